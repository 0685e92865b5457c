# atif-drift in a pytest suite (the wheel: `pip install` the file `cargo xtask wheel` writes):
# the test fails listing each unexpected drift pattern of the `nat eval` output directory.
from atif_drift.pytest import assert_no_unexpected_drift


def test_eval_output_has_no_unexpected_drift():
    assert_no_unexpected_drift("eval_output/", builders=("pr1751", "faithful"))
