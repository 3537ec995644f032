"""``make bench-setup``: how long a new user and every change wait, measured as they would meet it.

In one run, on this machine, each from nothing:

1. **Training**: ``rasa train`` of Rasa's ``rasa init`` starter bot and of this project, each
   from scratch (an empty training cache), alternating, ``--repeat`` times each.
2. **A new user's first answer**: a fresh ``git clone`` of this repository's committed ``HEAD``,
   ``make run`` in it with empty package caches (uv, pip, npm; ``.venv``, the model and the
   widget all built from nothing), timed from the command to the first REST answer, with the
   time each step of ``make run`` finished.
3. **Changing things** in that clone, the way a clinic would, timed through the Makefile:
   ``clinic.yml`` edited (``make -q train`` must say there is nothing to train), one FAQ answer
   edited in ``domain.yml``, one training example added; for each, how many model components
   Rasa trained and how many it restored from its training cache.
4. **CI** (``--ci``): ``bash .ci/run`` in another fresh clone with empty caches.

System packages (Python 3.10, npm, Chromium, PostgreSQL, Redis) come from the machine: when
they are already installed, the clone does not install them again, and the figures leave out
what ``apt-get`` would take on a machine without them.

Writes ``results/bench/setup.json`` and the block between ``<!-- setup -->`` and
``<!-- /setup -->`` of ``docs/benchmarks.md``. Uncommitted changes are not in the clone: commit
first. Every process it starts is stopped at the end, also on Ctrl-C or an error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import logging
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Any

from scripts.bench import BenchError, base_env, machine_info, rasa_bin, run_timed
from scripts.bench_stats import SETUP_END, SETUP_START, fmt, markdown_table
from scripts.serve import PROJECT_ROOT, free_port, rasa_command

logger = logging.getLogger("bench-setup")

JSON_OUT = PROJECT_ROOT / "results" / "bench" / "setup.json"
PAGE = PROJECT_ROOT / "docs" / "benchmarks.md"
REST_PATH = "/webhooks/rest/webhook"
TARGET_TRAINING_RATIO = 1.5
TARGET_FIRST_ANSWER_S = 300.0
TARGET_CI_S = 600.0
# make run's output lines that end a step, and the step's name
MILESTONES = (
    (re.compile(r"No broken requirements found"), "dependencies installed"),
    (re.compile(r"Your Rasa model is trained and saved"), "model trained"),
    (re.compile(r"Clinic assistant is running"), "all servers ready"),
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=2,
                        help="trainings from scratch of each project (default 2)")
    parser.add_argument("--ci", action="store_true",
                        help="also time `bash .ci/run` in a fresh clone (several minutes)")
    parser.add_argument("--no-clone", action="store_true",
                        help="only the training comparison (no fresh clone, no make run)")
    parser.add_argument("--timeout", type=float, default=1800.0,
                        help="longest wait for make run's first answer (seconds)")
    parser.add_argument("--json", type=Path, default=JSON_OUT)
    parser.add_argument("--page", type=Path, default=PAGE)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    return parser.parse_args(argv)


# ---- 1. training from scratch ----------------------------------------------------------------

def components_in(log: Path) -> dict[str, int]:
    """How many components a ``rasa train`` log says it trained and restored from cache."""
    text = log.read_text(errors="replace") if log.exists() else ""
    return {"trained": len(re.findall(r"Starting to train component", text)),
            "restored": len(re.findall(r"Restored component", text))}


def starter_template() -> Path:
    """The files ``rasa init`` copies into a new project (Rasa's starter bot)."""
    spec = importlib.util.find_spec("rasa")
    if spec is None or not spec.submodule_search_locations:
        raise BenchError("rasa is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "cli" / "initial_project"


def train_starter(work: Path, run: int) -> float:
    """``rasa train`` of the project ``rasa init`` creates, with an empty cache."""
    project = work / f"starter-{run}"
    shutil.copytree(starter_template(), project)
    return run_timed([rasa_bin(), "train", "--out", str(project / "models")], cwd=project,
                     env=base_env(work / f"cache-starter-{run}"),
                     log=work / "logs" / f"starter-train-{run}.log")


def train_clinic(work: Path, run: int) -> float:
    return run_timed([*rasa_command(), "train", "--config", "config.yml", "--domain",
                      "domain.yml", "--data", "data", "--out", str(work / f"clinic-{run}"),
                      "--fixed-model-name", "bench"],
                     cwd=PROJECT_ROOT, env=base_env(work / f"cache-clinic-{run}"),
                     log=work / "logs" / f"clinic-train-{run}.log")


def training(work: Path, repeat: int) -> dict[str, Any]:
    starter: list[float] = []
    clinic: list[float] = []
    for run in range(repeat):
        starter.append(round(train_starter(work, run), 1))
        logger.info("starter bot trained in %.0f s", starter[-1])
        clinic.append(round(train_clinic(work, run), 1))
        logger.info("clinic trained in %.0f s", clinic[-1])
    ratio = statistics.median(clinic) / statistics.median(starter)
    return {"starter_s": starter, "clinic_s": clinic, "ratio": round(ratio, 2),
            "clinic_components": components_in(work / "logs" / "clinic-train-0.log")}


# ---- 2. a fresh clone: make run to the first answer ------------------------------------------

def fresh_env(work: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The user's environment with empty package caches of its own (nothing downloaded earlier
    is reused) and none of this shell's virtualenv."""
    caches = work / "caches"
    env = {key: value for key, value in os.environ.items()
           if key not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env.update({
        "UV_CACHE_DIR": str(caches / "uv"),
        "PIP_CACHE_DIR": str(caches / "pip"),
        "npm_config_cache": str(caches / "npm"),
        "PYTHONDONTWRITEBYTECODE": "1",
        **(extra or {}),
    })
    return env


def clone(work: Path, name: str) -> Path:
    target = work / name
    subprocess.run(["git", "clone", "--quiet", str(PROJECT_ROOT), str(target)], check=True)
    return target


def answered(url: str) -> bool:
    body = json.dumps({"sender": "bench-setup", "message": "where is the clinic?"}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status == 200 and any("text" in m for m in json.loads(reply.read()))
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _follow(stream: IO[str], started: float, log: IO[str], seen: dict[str, float]) -> None:
    for line in stream:
        log.write(line)
        log.flush()
        for pattern, step in MILESTONES:
            if step not in seen and pattern.search(line):
                seen[step] = round(time.monotonic() - started, 1)


def stop_group(process: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def first_answer(work: Path, timeout: float) -> tuple[Path, dict[str, Any]]:
    project = clone(work, "fresh-clone")
    ports = {"RASA_PORT": str(free_port()), "ACTION_PORT": str(free_port()),
             "WEB_PORT": str(free_port())}
    env = fresh_env(work, ports)
    url = f"http://127.0.0.1:{ports['RASA_PORT']}{REST_PATH}"
    seen: dict[str, float] = {}
    log_path = work / "logs" / "make-run.log"
    started = time.monotonic()
    process = subprocess.Popen(["make", "run"], cwd=project, env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
    log = open(log_path, "w", encoding="utf-8")  # closed after the reader has finished
    assert process.stdout is not None
    reader = threading.Thread(target=_follow, args=(process.stdout, started, log, seen),
                              daemon=True)
    reader.start()
    try:
        while not answered(url):
            if process.poll() is not None:
                raise BenchError(f"make run exited with {process.returncode}; see {log_path}")
            if time.monotonic() - started > timeout:
                raise BenchError(f"no answer from make run in {timeout:.0f} s")
            time.sleep(1)
        total = round(time.monotonic() - started, 1)
    finally:
        stop_group(process)
        reader.join(timeout=30)
        log.close()
    logger.info("fresh clone: first REST answer %.0f s after `make run`", total)
    return project, {"first_answer_s": total, "steps_s": seen}


# ---- 3. changes, through the Makefile ---------------------------------------------------------

def make_train(project: Path, env: dict[str, str], log: Path) -> dict[str, Any]:
    seconds = run_timed(["make", "train"], cwd=project, env=env, log=log)
    return {"seconds": round(seconds, 1), **components_in(log)}


def edit_first_faq_answer(domain: str) -> str:
    """domain.yml with a word added to the first ``utter_faq/...`` answer (its variation without
    conditions, after any conditional ones such as the Spanish variation)."""
    found = re.search(r"^  utter_faq/\S+:\n(?:    (?!- text: ).*\n)*?    - text: >-\n(.+)$",
                      domain, flags=re.M)
    if found is None:
        raise BenchError("no utter_faq/... answer written as `text: >-` in domain.yml")
    return domain[:found.end(1)] + " (edited)" + domain[found.end(1):]


def changes(project: Path, work: Path) -> dict[str, Any]:
    env = fresh_env(work)
    logs = work / "logs"
    result: dict[str, Any] = {}
    (project / "clinic.yml").write_text((project / "clinic.yml").read_text() + "\n")
    up_to_date = subprocess.run(["make", "-q", "train"], cwd=project, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    result["clinic_yml_needs_training"] = up_to_date.returncode != 0

    domain = project / "domain.yml"
    domain.write_text(edit_first_faq_answer(domain.read_text(encoding="utf-8")),
                      encoding="utf-8")
    result["faq_answer_edited"] = make_train(project, env, logs / "train-answer.log")

    faq = project / "data" / "nlu" / "faq.yml"
    nlu = faq.read_text(encoding="utf-8")
    nlu = nlu.replace("  examples: |\n", "  examples: |\n    - tell me more about this\n", 1)
    faq.write_text(nlu, encoding="utf-8")
    result["training_example_added"] = make_train(project, env, logs / "train-example.log")
    return result


# ---- 4. CI in a fresh clone -------------------------------------------------------------------

def ci(work: Path) -> dict[str, Any]:
    project = clone(work, "ci-clone")
    env = fresh_env(work / "ci-caches")
    started = time.monotonic()
    with open(work / "logs" / "ci.log", "w", encoding="utf-8") as log:
        process = subprocess.Popen(["bash", ".ci/run"], cwd=project, env=env,
                                   stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        try:
            code = process.wait()
        except BaseException:
            stop_group(process)
            raise
    seconds = round(time.monotonic() - started, 1)
    logger.info("fresh clone: bash .ci/run exit %d in %.0f s", code, seconds)
    return {"seconds": seconds, "exit_code": code}


# ---- report -----------------------------------------------------------------------------------

def checks(result: dict[str, Any]) -> list[list[Any]]:
    rows: list[list[Any]] = []
    train = result["training"]
    rows.append(["training from scratch, clinic / starter bot (medians)",
                 f"{train['ratio']:.2f}x", f"<= {TARGET_TRAINING_RATIO}x",
                 "PASS" if train["ratio"] <= TARGET_TRAINING_RATIO else "FAIL"])
    fresh = result.get("fresh_clone")
    if fresh:
        rows.append(["fresh clone, `make run` to the first REST answer",
                     f"{fresh['first_answer_s']:.0f} s", f"< {TARGET_FIRST_ANSWER_S:.0f} s",
                     "PASS" if fresh["first_answer_s"] < TARGET_FIRST_ANSWER_S else "FAIL"])
        change = result["changes"]
        rows.append(["`clinic.yml` edited: `make -q train` up to date",
                     "no training" if not change["clinic_yml_needs_training"] else "trains",
                     "no training",
                     "PASS" if not change["clinic_yml_needs_training"] else "FAIL"])
        answer = change["faq_answer_edited"]
        rows.append(["FAQ answer edited: components trained (restored from cache)",
                     f"{answer['trained']} ({answer['restored']})", "0 trained",
                     "PASS" if answer["trained"] == 0 else "FAIL"])
    run = result.get("ci")
    if run:
        ok = run["exit_code"] == 0 and run["seconds"] < TARGET_CI_S
        rows.append(["fresh clone, `bash .ci/run`",
                     f"{run['seconds']:.0f} s (exit {run['exit_code']})",
                     f"< {TARGET_CI_S:.0f} s, exit 0", "PASS" if ok else "FAIL"])
    return rows


def markdown(result: dict[str, Any]) -> str:
    train = result["training"]
    info = result["machine"]
    lines = [
        SETUP_START,
        "## Setup, training and CI times",
        "",
        f"Written by `make bench-setup` (`scripts/bench_setup.py`) on {result['finished']}, "
        f"{info.get('cpu_count')} CPU cores, commit {result['commit']}; the whole run took "
        f"{result['seconds'] / 60:.1f} minutes. System packages were already installed "
        "(the figures leave out `apt-get`).",
        "",
        markdown_table(["check", "measured", "target", "result"], checks(result)),
        "",
        "Training from scratch (empty training cache), alternating, seconds:",
        "",
        markdown_table(["project", *[f"run {i + 1}" for i in range(len(train["clinic_s"]))],
                        "median"],
                       [["Rasa's starter bot (`rasa init`)", *train["starter_s"],
                         statistics.median(train["starter_s"])],
                        ["clinic (`make train`'s command)", *train["clinic_s"],
                         statistics.median(train["clinic_s"])]]),
    ]
    fresh = result.get("fresh_clone")
    if fresh:
        steps = sorted(fresh["steps_s"].items(), key=lambda kv: kv[1])
        lines += [
            "",
            f"Fresh clone, `make run` with empty package caches: first REST answer after "
            f"**{fresh['first_answer_s']:.0f} s**. Steps finished at (seconds after the "
            "command): " + ", ".join(f"{name} {seconds:.0f}" for name, seconds in steps) + ".",
            "",
            "Changes in that clone, then `make train`:",
            "",
            markdown_table(["change", "seconds", "components trained", "restored from cache"], [
                ["`clinic.yml` edited", "not needed" if not result["changes"][
                    "clinic_yml_needs_training"] else "needed", "", ""],
                *[[label, change["seconds"], change["trained"], change["restored"]]
                  for label, change in (
                      ("one FAQ answer edited (`domain.yml`)",
                       result["changes"]["faq_answer_edited"]),
                      ("one training example added (`data/nlu/faq.yml`)",
                       result["changes"]["training_example_added"]))]]),
        ]
    run = result.get("ci")
    if run:
        lines += ["", f"`bash .ci/run` in a fresh clone with empty caches: {fmt(run['seconds'])}"
                      f" s, exit code {run['exit_code']}."]
    lines.append(SETUP_END)
    return "\n".join(lines)


def write_page(page: Path, block: str) -> None:
    old = page.read_text(encoding="utf-8") if page.exists() else "# Benchmarks\n"
    begin, end = old.find(SETUP_START), old.find(SETUP_END)
    if begin >= 0 and end > begin:
        new = old[:begin] + block + old[end + len(SETUP_END):]
    else:
        new = old.rstrip("\n") + "\n\n" + block + "\n"
    page.write_text(new, encoding="utf-8")


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    started = time.monotonic()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_ROOT,
                            capture_output=True, text=True, check=True).stdout.strip()
    result: dict[str, Any] = {"commit": commit, "machine": machine_info(),
                              "training": training(work, args.repeat)}
    if not args.no_clone:
        project, result["fresh_clone"] = first_answer(work, args.timeout)
        result["changes"] = changes(project, work)
    if args.ci:
        result["ci"] = ci(work)
    result["seconds"] = round(time.monotonic() - started, 1)
    result["finished"] = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[bench-setup] %(message)s")
    if args.repeat < 1:
        raise SystemExit("--repeat must be 1 or more")
    work = Path(tempfile.mkdtemp(prefix="clinic-bench-setup-"))
    try:
        result = run(args, work)
    except BenchError as exc:
        logger.error("%s (work directory kept: %s)", exc, work)
        return 1
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    block = markdown(result)
    write_page(args.page, block)
    print(block)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        logger.info("work directory kept: %s", work)
    return 1 if any(row[-1] == "FAIL" for row in checks(result)) else 0


if __name__ == "__main__":
    sys.exit(main())
