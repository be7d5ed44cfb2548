"""`n2g.files`: the output-directory helpers every stage shares, and the one "same settings or refuse" check."""

from __future__ import annotations

from pathlib import Path

import pytest

from n2g.errors import N2GError
from n2g.files import (
    check_same_settings,
    prepare_directory,
    read_manifest,
    save_json,
    setting_differences,
    temporary_path,
)

FOUND = {"model": "gpt2", "config": {"sweep_candidates": 64, "augment": {"top_m": 8, "lm_dtype": "float32"}},
         "layers": [0, 1], "seed": 0}


def refusal(found: dict, wanted: dict, **options) -> str:
    with pytest.raises(N2GError) as refused:
        check_same_settings(found, wanted, where="work/graphs", what="graphs",
                            remedy="use another --out or the same settings", **options)
    return str(refused.value)


def test_same_settings_pass() -> None:
    check_same_settings(FOUND, {**FOUND, "layers": (0, 1)}, where="w", what="x", remedy="r")  # a tuple is its list


def test_names_the_first_differing_setting_by_path_with_both_values() -> None:
    wanted = {**FOUND, "config": {"sweep_candidates": 0, "augment": {"top_m": 4, "lm_dtype": "float32"}},
              "seed": 1}
    assert refusal(FOUND, wanted) == ("work/graphs holds graphs made with other settings: config.augment.top_m is "
                                      "8 there, 4 here (and 2 more differ): use another --out or the same settings")
    assert [path for path, _, _ in setting_differences(FOUND, wanted)] == [
        "config.augment.top_m", "config.sweep_candidates", "seed"]


def test_one_difference_says_no_more() -> None:
    message = refusal(FOUND, {**FOUND, "model": "pythia"})
    assert message.endswith('model is "gpt2" there, "pythia" here: use another --out or the same settings')


@pytest.mark.parametrize("there, here, shown", [
    (1, True, "1 there, true here"),  # JSON tells them apart, so does the check
    (1, 1.0, "1 there, 1.0 here"),
    ([0, 1], [0, 2], "[0, 1] there, [0, 2] here"),
    (None, 3, "null there, 3 here"),
    ({"a": 1}, 5, '{"a": 1} there, 5 here'),
])
def test_values_compare_and_show_as_json(there: object, here: object, shown: str) -> None:
    assert f"setting is {shown}:" in refusal({"setting": there}, {"setting": here})


def test_a_missing_setting_is_shown_absent() -> None:
    assert "config.new is absent there, 2 here:" in refusal({"config": {}}, {"config": {"new": 2}})
    assert "old is 1 there, absent here:" in refusal({"old": 1}, {})


def test_long_values_are_cut() -> None:
    message = refusal({"text": "a" * 200}, {"text": "b"})
    assert '"aaaa' in message and "..." in message and len(message) < 200


def test_ignored_paths_and_what_is_under_them() -> None:
    wanted = {**FOUND, "exemplars": "/elsewhere", "config": {**FOUND["config"], "augment": {}}}
    check_same_settings({**FOUND, "exemplars": "/here"}, wanted, where="w", what="x", remedy="r",
                        ignore=("exemplars", "config.augment"))
    assert 'config.augment.lm_dtype is "float32" there, absent here (and 1 more differ)' in refusal(
        FOUND, wanted, ignore=("exemplars",))


def test_sides_name_where_values_come_from() -> None:
    message = refusal({"seed": 0}, {"seed": 1}, sides=("there", "in an earlier source"))
    assert "seed is 0 there, 1 in an earlier source:" in message


def test_directory_and_manifest(tmp_path: Path) -> None:
    out = tmp_path / "out"
    prepare_directory(out)
    assert read_manifest(out) is None
    leftover = out / ".layer_00.safetensors.tmp-99999"  # another (killed) process's write
    leftover.write_text("torn")
    assert temporary_path(out / "manifest.json").name.startswith(".manifest.json.tmp-")
    save_json(out / "manifest.json", {"a": [1, 2]})
    assert read_manifest(out) == {"a": [1, 2]}
    prepare_directory(out)  # drops what a killed write left behind
    assert not leftover.exists() and sorted(p.name for p in out.iterdir()) == ["manifest.json"]
    (out / "manifest.json").write_text("[1]")
    with pytest.raises(N2GError, match="not a JSON object"):
        read_manifest(out)
    with pytest.raises(N2GError, match="is a file"):
        prepare_directory(out / "manifest.json")


def test_directory_lock_refuses_a_second_holder_with_its_pid(tmp_path) -> None:
    """flock locks belong to an open file, so a second open in the same process is refused like another process."""
    import os

    from n2g.files import directory_lock

    with directory_lock(tmp_path / "work", "n2g ingest"):
        with pytest.raises(N2GError, match=f"work is in use by process {os.getpid()} \\(n2g ingest\\)"):
            with directory_lock(tmp_path / "work", "n2g ingest"):
                pass
    with directory_lock(tmp_path / "work", "n2g ingest"):  # released: taken again
        pass
