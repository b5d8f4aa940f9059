"""VM test harness: real LVM2 in a qemu (TCG) guest."""
