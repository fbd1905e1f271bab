import gc

from optinbase import process


def test_started_takes_what_is_loaded_out_of_the_collectors_reach():
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    process.started()
    assert gc.get_freeze_count() > 1000  # modules, classes, functions loaded so far
    assert gc.get_count()[0] < 700  # and the youngest generation starts empty
