from pathlib import Path

import pytest

from lvmove_hooks.config import Config, load, parse
from lvmove_hooks.errors import BadConfig


def test_absent_file_is_defaults(tmp_path: Path) -> None:
    assert load(tmp_path / "none.yaml") == Config()


def test_full_config() -> None:
    cfg = parse("auto_resume: false\npoll_interval: 5\nprogress_interval: 10\nactivate_inactive: false\n"
                "remove_orphans: false\ninclude: [vg0, data-vg]\nexclude: []\n", "f.yaml")
    assert cfg == Config(auto_resume=False, poll_interval=5, progress_interval=10, activate_inactive=False,
                         watch_kernel=True, remove_orphans=False, include=("vg0", "data-vg"), exclude=())
    assert cfg.wants_vg("vg0") and not cfg.wants_vg("other")


def test_empty_file_is_defaults() -> None:
    assert parse("", "f.yaml") == Config()


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("poll_intervall: 5\n", "unknown key 'poll_intervall'"),
        ("poll_interval: 0\n", "poll_interval"),
        ("poll_interval: '5'\n", "whole number"),
        ("poll_interval: true\n", "whole number"),
        ("auto_resume: yes please\n", "true or false"),
        ("include: vg0\n", "list of VG names"),
        ("exclude: ['bad name']\n", "is not a VG name"),
        ("- a\n- b\n", "mapping"),
        ("a: [\n", "not valid YAML"),
        ("max_recopy: 1K\n", "a size in MiB or with a unit"),
        ("max_recopy: -1\n", "a size in MiB or with a unit"),
        ("max_recopy: lots\n", "a size in MiB or with a unit"),
    ],
)
def test_errors_name_file_key_and_form(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "lvmove.yaml"
    path.write_text(text)
    with pytest.raises(BadConfig) as info:
        load(path)
    message = str(info.value)
    assert str(path) in message and needle in message


@pytest.mark.parametrize(("value", "mib"), [
    ("1G", 1024), ("512M", 512), ("512", 512), ("2 GiB", 2048), ("1.5t", 1572864), ("false", 0), ("0", 0),
])
def test_max_recopy_takes_sizes_as_lvm_writes_them(value: str, mib: int) -> None:
    assert parse(f"max_recopy: {value}\n", "f.yaml").max_recopy == mib


def test_max_recopy_defaults_to_1_gib() -> None:
    assert Config().max_recopy == 1024
