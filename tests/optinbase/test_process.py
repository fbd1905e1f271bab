import gc

from optinbase import process


def test_started_takes_what_is_loaded_out_of_the_collectors_reach():
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    process.started()
    assert gc.get_freeze_count() > 1000  # modules, classes, functions loaded so far
    assert gc.get_count()[0] < 700  # and the youngest generation starts empty


def test_bulk_work_collects_less_often_and_restores_the_thresholds():
    before = gc.get_threshold()
    with process.bulk_work():
        assert gc.get_threshold() == process.BULK_THRESHOLDS
        with process.bulk_work():  # a second import at the same time
            assert gc.get_threshold() == process.BULK_THRESHOLDS
        assert gc.get_threshold() == process.BULK_THRESHOLDS  # the first still runs
    assert gc.get_threshold() == before
    try:
        with process.bulk_work():
            raise RuntimeError("an import failing")
    except RuntimeError:
        pass
    assert gc.get_threshold() == before
