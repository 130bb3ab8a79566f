"""The local runtime's pure parts: shard rows read as Jobs, and which GPUs a shard sees."""

from __future__ import annotations

from pathlib import Path

from sovits_core import contract
from sovits_core.launch import StepLaunch
from sovits_local.jobs import LocalJobs, Shard
from sovits_local.runtime import cuda_devices, exit_status, observe, parse_devices


def launch(shards: int = 1, gpus: int = 0, name: str = "t-extract-audio-features-1") -> StepLaunch:
    return StepLaunch(job_name=name, step="extract_audio_features", attempt=1, params={}, shards=shards,
                      gpus_per_pod=gpus)  # fmt: skip


def row(shard: int, state: str, exit_code: int | None = None, message: str | None = None) -> Shard:
    finished = 200.0 + shard if state in {"succeeded", "failed", "interrupted"} else None
    return Shard(
        "default", "t", "job-1", shard, launch(3), state,  # type: ignore[arg-type]
        pid=None, pid_started=None, exit_code=exit_code, message=message,
        created_at=100.0, started_at=None, finished_at=finished,
    )  # fmt: skip


def test_a_job_succeeds_when_every_shard_succeeded() -> None:
    (job,) = observe([row(0, "succeeded"), row(1, "succeeded"), row(2, "succeeded")], running=0, max_parallel=2)

    assert job.state == "succeeded"
    assert job.finished_at is not None
    assert job.finished_at.timestamp() == 202.0


def test_a_job_is_active_while_any_shard_runs() -> None:
    (job,) = observe([row(0, "succeeded"), row(1, "running"), row(2, "queued")], running=1, max_parallel=2)

    assert job.state == "active"
    assert job.unschedulable_since is None


def test_one_failed_shard_fails_the_job_and_bad_input_wins() -> None:
    rows = [
        row(0, "failed", 75, "storage down"),
        row(1, "failed", contract.EXIT_BAD_INPUT, "no audio"),
        row(2, "running"),
    ]

    (job,) = observe(rows, running=1, max_parallel=2)

    assert job.state == "failed"
    assert job.exit_code == contract.EXIT_BAD_INPUT
    assert job.message == "no audio"


def test_a_shard_interrupted_by_our_own_stop_reads_as_an_interrupted_job() -> None:
    (job,) = observe([row(0, "succeeded"), row(1, "interrupted", 75, "interrupted")], running=0, max_parallel=2)

    assert (job.state, job.interrupted, job.message) == ("failed", True, "interrupted")


def test_the_steps_own_failure_wins_over_an_interruption_of_another_shard() -> None:
    (job,) = observe([row(0, "interrupted", 75, "interrupted"), row(1, "failed", 1, "oom")], running=0, max_parallel=2)

    assert (job.state, job.interrupted, job.message) == ("failed", False, "oom")


def test_a_child_killed_by_a_signal_reads_as_the_container_exit_code_naming_the_signal() -> None:
    code, message = exit_status(-9, "")

    assert code == 137
    assert message.startswith("killed by SIGKILL")
    assert exit_status(3, "") == (3, "exit code 3")
    assert exit_status(65, "no audio") == (65, "no audio")


def test_a_job_whose_shards_all_wait_reads_as_unschedulable_with_the_reason() -> None:
    (job,) = observe([row(0, "queued"), row(1, "queued"), row(2, "queued")], running=1, max_parallel=1)

    assert job.state == "active"
    assert job.unschedulable_since is not None
    assert job.unschedulable_message == "waiting for a free slot: 1 of --max-parallel 1 steps running"


def test_shards_see_one_gpu_each_round_robin() -> None:
    sharded = launch(shards=4, gpus=1)

    assert [cuda_devices(sharded, i, [0, 1]) for i in range(4)] == ["0", "1", "0", "1"]


def test_a_whole_step_gpu_job_sees_its_gpus_and_a_cpu_step_sees_none() -> None:
    assert cuda_devices(launch(shards=1, gpus=2), 0, [0, 1, 2]) == "0,1"
    assert cuda_devices(launch(shards=1, gpus=0), 0, [0, 1, 2]) == ""


def test_the_seed_gpu_id_spelling_is_parsed() -> None:
    assert parse_devices("0-1-2") == [0, 1, 2]
    assert parse_devices("3") == [3]


def test_a_repeated_create_of_the_same_job_is_harmless(tmp_path: Path) -> None:
    jobs = LocalJobs.open(tmp_path / "runtime.db")

    assert jobs.create("default", "t", launch(3), now=1.0)
    assert not jobs.create("default", "t", launch(3), now=2.0)
    assert [(r.shard, r.state) for r in jobs.all()] == [(0, "queued"), (1, "queued"), (2, "queued")]


def test_job_rows_survive_a_reopen(tmp_path: Path) -> None:
    jobs = LocalJobs.open(tmp_path / "runtime.db")
    jobs.create("default", "t", launch(1), now=1.0)
    (first,) = jobs.all()
    jobs.started(first, pid=4242, pid_started="99", now=2.0)
    jobs.close()

    (again,) = LocalJobs.open(tmp_path / "runtime.db").all()

    assert (again.state, again.pid, again.pid_started) == ("running", 4242, "99")
    assert again.launch == launch(1)


def test_a_succeeded_job_carries_its_termination_message_as_its_result() -> None:
    (job,) = observe([row(0, "succeeded", 0, "done | result: {}")], running=0, max_parallel=1)

    assert (job.state, job.result) == ("succeeded", "done | result: {}")
