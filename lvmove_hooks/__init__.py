"""lvmove: resume, watch and finish LVM2 pvmove operations as systemd units."""

__version__ = "0.1.0"
