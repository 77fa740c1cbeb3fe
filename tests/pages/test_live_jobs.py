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
