"""Live training as jobs in the server's pool, seen from the pages: navigating while a model trains never
raises, Stop acts at once, and the URL's run id reattaches a reload or a new tab to the run."""

import time

from streamlit.testing.v1 import AppTest

from tests.conftest import APP_TIMEOUT, ROOT, assert_clean, job_of, open_page

RNN = "pages/rnn.py"
SETTINGS = {"rnn_task": "sum_comparison", "rnn_hidden": 8, "rnn_steps": 2000}


def test_navigating_while_a_model_trains_never_raises_and_the_run_goes_on():
    at = open_page(RNN, **SETTINGS)
    at.button(key="rnn_start").click().run()
    job = job_of(at, "rnn")
    assert job.trainer is not None and job.snapshot.model is not job.trainer.model  # views read copies
    for page in ("pages/positional.py", "pages/attention.py", RNN, "pages/gradients.py", RNN):
        at.switch_page(page).run()
        assert_clean(at)
    seen = job.snapshot.step
    deadline = time.monotonic() + 30
    while job.snapshot.step == seen and time.monotonic() < deadline:
        time.sleep(0.05)
    at.run()
    assert_clean(at)
    assert at.session_state["rnn_job"] is job and job.snapshot.step > seen and not job.done
    at.button(key="rnn_stop").click().run()
    assert job.snapshot.status == "stopped"
    assert any("stopped by the user" in w.value for w in at.warning)


def test_a_reload_or_a_new_tab_reattaches_to_the_run_in_the_url():
    first = open_page(RNN, **(SETTINGS | {"rnn_steps": 60}))
    first.button(key="rnn_start").click().run()
    job = job_of(first, "rnn", until="ended")
    assert first.query_params["rnn_run"] == job.id
    reload = _open_with_query(RNN, rnn_run=job.id, **{k: str(v) for k, v in SETTINGS.items()} | {"rnn_steps": "60"})
    assert_clean(reload)
    assert reload.session_state["rnn_job"] is job
    assert any("your model, trained live for 60 steps" in i.value for i in reload.info)


def test_a_run_id_that_is_not_on_the_server_gives_a_note():
    for bad in ("0123456789ab", "../../etc", "![p](http://x/b.png)"):
        at = _open_with_query(RNN, rnn_run=bad)
        assert not at.exception
        assert any("no longer on this server" in i.value for i in at.info)
        assert "rnn_job" not in at.session_state


def _open_with_query(page: str, **params: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=APP_TIMEOUT)
    at.query_params.update(params)
    at.run()
    at.switch_page(page).run()
    return at


def test_after_a_server_restart_a_finished_run_comes_back_and_an_interrupted_one_says_so():
    from models.core.engine import TrainConfig
    from models.core.jobs import JobPool
    from models.labs.rnn.spec import ModelSpec, RnnRun, build_trainer
    from pages._ui import job_pool

    run = RnnRun("sum_comparison", {}, ModelSpec("lstm", 8), train=TrainConfig(steps=60, lr=0.01, clip_norm=1.0))
    before = JobPool(workers=1, store=job_pool().store, save_seconds=0.05)  # the server before the restart
    finished, refit = before.submit(build_trainer(run, "cpu")), before.submit(build_trainer(run, "cpu"))
    assert finished.wait(APP_TIMEOUT) and refit.wait(APP_TIMEOUT)
    run = RnnRun("sum_comparison", {}, ModelSpec("lstm", 8), train=TrainConfig(steps=100000, lr=0.01, clip_norm=1.0))
    killed = before.submit(build_trainer(run, "cpu"))
    while job_pool().store.load(killed.id).members[""]["step"] == 0:
        time.sleep(0.05)
    saved = job_pool().store.path(killed.id).read_bytes()
    before.close()
    job_pool().store.path(killed.id).write_bytes(saved)  # the file as a kill -9 leaves it
    settings = {"rnn_task": "sum_comparison", "rnn_hidden": "8", "rnn_steps": "60"}

    back = _open_with_query(RNN, rnn_run=finished.id, **settings)
    back.run()  # the panel restores the run below the views; its next tick redraws them (AppTest: a rerun)
    assert_clean(back)
    assert back.session_state["rnn_job"].snapshot.status == "finished"
    assert any("your model, trained live for 60 steps" in i.value for i in back.info)
    interrupted = _open_with_query(RNN, rnn_run=killed.id, **(settings | {"rnn_steps": "100000"}))
    assert not interrupted.exception
    assert any("interrupted when the server restarted" in w.value for w in interrupted.warning)
    other = _open_with_query(RNN, rnn_run=refit.id, **(settings | {"rnn_hidden": "16"}))
    assert not other.exception
    assert any("could not be restored" in w.value and "do not fit" in w.value for w in other.warning)
