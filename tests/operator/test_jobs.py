"""The Job builder: one attempt of one step as a batch/v1 Job, from the task, the launch and settings."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sovits_core.launch import StepLaunch, job_name
from sovits_core.model import TrainingTask
from sovits_core.settings import Settings
from sovits_operator.jobs import KUEUE_QUEUE_LABEL, Labels, build_job, label_value, ttl_patch
from tests.operator.builders import a_task


def settings(**sections: Any) -> Settings:
    return Settings.model_validate(
        {
            "storage": {"endpoint_url": "http://s3:8333", "bucket": "voices", "access_key_id": "AKIA-SECRET",
                        "secret_access_key": "shh-secret"},
            **sections,
        }
    )  # fmt: skip


def launch(step: str = "convert_audio", attempt: int = 1, shards: int = 1, gpus: int = 0) -> StepLaunch:
    return StepLaunch(
        job_name=job_name("voice1", step, attempt),
        step=step,  # type: ignore[arg-type]
        attempt=attempt,
        params={"sample_rate": 32000},
        shards=shards,
        gpus_per_pod=gpus,
        request_id="req-7",
    )


def built(task: TrainingTask | None = None, run: StepLaunch | None = None, **sections: Any) -> dict[str, Any]:
    return build_job(task or a_task(), run or launch(), settings(**sections))


def pod(job: dict[str, Any]) -> dict[str, Any]:
    return job["spec"]["template"]["spec"]  # type: ignore[no-any-return]


def container(job: dict[str, Any]) -> dict[str, Any]:
    return pod(job)["containers"][0]  # type: ignore[no-any-return]


def env(job: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(job)["env"]}


# -- names --------------------------------------------------------------------------------------


def test_long_label_values_are_cut_with_a_hash() -> None:
    value = label_value("t" * 100)

    assert len(value) <= 63 and value != label_value("t" * 99)


# -- the pod ------------------------------------------------------------------------------------


def test_the_container_runs_the_step_runner_with_the_steps_image() -> None:
    job = built(images={"default": "reg/step:1", "per_step": {"train_gpt": "reg/train:1"}}, run=launch("train_gpt"))

    assert container(job)["args"] == ["sovits", "step", "train_gpt", "--task", "voice1"]
    assert "command" not in container(job)  # the image's entrypoint stays PID 1
    assert container(job)["image"] == "reg/train:1"
    assert container(built(images={"default": "reg/step:1"}))["image"] == "reg/step:1"


def test_params_spec_and_task_identity_travel_in_env_by_the_contract_names() -> None:
    variables = env(built())

    assert json.loads(variables["SOVITS_STEP_PARAMS"]) == {"sample_rate": 32000}
    spec = json.loads(variables["SOVITS_TASK_SPEC"])
    assert spec["expName"] == "spk" and "steps" not in spec
    assert variables["SOVITS_TASK_ID"] == "voice1"
    assert variables["SOVITS_STEP"] == "convert_audio"
    assert variables["SOVITS_ATTEMPT"] == "1"
    assert variables["SOVITS_TASK_PREFIX"] == "tasks/voice1/"


def test_storage_settings_travel_in_env_but_the_keys_only_by_secret_reference() -> None:
    job = built()
    variables = env(job)

    assert variables["SOVITS_STORAGE__ENDPOINT_URL"] == "http://s3:8333"
    assert variables["SOVITS_STORAGE__BUCKET"] == "voices"
    assert variables["SOVITS_STORAGE__ACCESS_KEY_ID"] == {
        "secretKeyRef": {"name": "sovits-s3", "key": "AWS_ACCESS_KEY_ID"}
    }
    assert variables["SOVITS_STORAGE__SECRET_ACCESS_KEY"]["secretKeyRef"]["key"] == "AWS_SECRET_ACCESS_KEY"
    assert "AKIA-SECRET" not in json.dumps(job) and "shh-secret" not in json.dumps(job)


def test_the_tasks_own_bucket_prefix_and_secret_win_over_settings() -> None:
    task = a_task(storage={"bucket": "mine", "prefix": "custom/place", "credentialsSecret": "my-keys"})

    variables = env(built(task))

    assert variables["SOVITS_STORAGE__BUCKET"] == "mine"
    assert variables["SOVITS_TASK_PREFIX"] == "custom/place/"
    assert variables["SOVITS_STORAGE__ACCESS_KEY_ID"]["secretKeyRef"]["name"] == "my-keys"


def test_step_pods_get_no_service_account_token_and_run_as_non_root() -> None:
    job = built()

    assert pod(job)["automountServiceAccountToken"] is False
    assert pod(job)["securityContext"]["runAsNonRoot"] is True
    assert pod(job)["securityContext"]["runAsUser"] == 1000
    assert container(job)["securityContext"]["allowPrivilegeEscalation"] is False
    assert container(job)["terminationMessagePolicy"] == "FallbackToLogsOnError"
    assert pod(job)["restartPolicy"] == "Never"


def test_a_cpu_step_asks_for_its_profile_and_no_gpu() -> None:
    resources = container(built())["resources"]

    assert resources["requests"] == {"cpu": "1", "memory": "2Gi"}
    assert "nvidia.com/gpu" not in resources["limits"]


def test_settings_resize_one_step_and_leave_the_others_at_their_profile() -> None:
    sized = {"step_resources": {"convert_audio": {"memory": "512Mi"}, "slice_audio": {"cpu": "250m"}}}

    convert = container(built(operator=sized))["resources"]
    slice_ = container(built(run=launch("slice_audio"), operator=sized))["resources"]
    denoise = container(built(run=launch("denoise_audio"), operator=sized))["resources"]

    assert convert == {"requests": {"cpu": "1", "memory": "512Mi"}, "limits": {"memory": "512Mi"}}
    assert slice_["requests"] == {"cpu": "250m", "memory": "2Gi"}
    assert denoise == container(built(run=launch("denoise_audio")))["resources"]


def test_a_step_size_that_is_no_quantity_is_refused_naming_the_field() -> None:
    with pytest.raises(ValueError, match=r"operator\.step_resources\.convert_audio\.memory"):
        settings(operator={"step_resources": {"convert_audio": {"memory": "lots"}}})


def test_a_gpu_step_asks_for_the_launchs_gpus_under_the_configured_resource_name() -> None:
    job = built(run=launch("train_sovits", gpus=4), gpu={"resource_name": "amd.com/gpu"})

    assert container(job)["resources"]["limits"]["amd.com/gpu"] == "4"
    assert container(job)["resources"]["requests"]["amd.com/gpu"] == "4"


def test_the_tasks_gpu_resource_name_wins_over_settings() -> None:
    task = a_task(gpu={"count": 1, "resourceName": "nvidia.com/mig-1g.10gb"})

    job = built(task, run=launch("train_gpt", gpus=1))

    assert container(job)["resources"]["limits"]["nvidia.com/mig-1g.10gb"] == "1"


def test_gpu_pods_get_node_selectors_and_tolerations_from_settings_and_spec() -> None:
    task = a_task(gpu={"count": 1, "nodeSelector": {"pool": "a100"},
                       "tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}]})  # fmt: skip
    job = built(
        task,
        run=launch("train_gpt", gpus=1),
        gpu={"node_selector": {"accelerator": "nvidia"}, "tolerations": [{"key": "dedicated", "operator": "Exists"}]},
        operator={"step_node_selector": {"zone": "z1"}},
    )

    assert pod(job)["nodeSelector"] == {"zone": "z1", "accelerator": "nvidia", "pool": "a100"}
    assert [t["key"] for t in pod(job)["tolerations"]] == ["dedicated", "gpu"]


def test_cpu_pods_get_only_the_general_step_placement() -> None:
    job = built(gpu={"node_selector": {"accelerator": "nvidia"}}, operator={"step_node_selector": {"zone": "z1"}})

    assert pod(job)["nodeSelector"] == {"zone": "z1"}
    assert "tolerations" not in pod(job)


OFF_GPU_NODES = {
    "nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [
                {"matchExpressions": [{"key": "nvidia.com/gpu.present", "operator": "NotIn", "values": ["true"]}]}
            ]
        }
    }
}


def test_cpu_pods_stay_off_gpu_nodes_by_default() -> None:
    assert pod(built())["affinity"] == OFF_GPU_NODES


def test_cpu_pods_keep_other_affinity_from_settings_beside_the_gpu_rule() -> None:
    spread = {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": []}}

    assert pod(built(operator={"step_affinity": spread}))["affinity"] == {**spread, **OFF_GPU_NODES}


def test_gpu_pods_and_pods_of_a_task_on_cpu_only_differ_as_their_steps_need() -> None:
    gpu_pod = pod(built(run=launch("train_gpt", gpus=1)))
    cpu_only_training = pod(built(run=launch("train_gpt", gpus=0)))

    assert "affinity" not in gpu_pod
    assert cpu_only_training["affinity"] == OFF_GPU_NODES


def test_a_node_affinity_of_the_users_or_an_empty_label_lets_cpu_pods_anywhere() -> None:
    own = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": []}}

    assert pod(built(operator={"step_affinity": own}))["affinity"] == own
    assert "affinity" not in pod(built(gpu={"node_label": ""}))


# -- the Job ------------------------------------------------------------------------------------


def test_an_evicted_or_preempted_pod_fails_the_job_by_a_rule_the_operator_can_tell_apart() -> None:
    rules = built()["spec"]["podFailurePolicy"]["rules"]

    assert rules == [{"action": "FailJob", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}]


def test_kubernetes_retries_nothing_and_the_job_has_a_deadline_but_no_ttl_yet() -> None:
    spec = built(operator={"active_deadline_s": 7200})["spec"]

    assert spec["backoffLimit"] == 0
    assert spec["activeDeadlineSeconds"] == 7200
    assert "ttlSecondsAfterFinished" not in spec


def test_the_ttl_comes_later_as_a_patch_with_the_label_that_takes_the_job_out_of_the_watch() -> None:
    assert ttl_patch(600, Labels("sovits.io")) == {
        "metadata": {"labels": {"sovits.io/recorded": "true"}},
        "spec": {"ttlSecondsAfterFinished": 600},
    }


def test_the_job_is_owned_by_its_training_task() -> None:
    owner = built()["metadata"]["ownerReferences"][0]

    assert (owner["kind"], owner["name"], owner["uid"]) == ("TrainingTask", "voice1", "uid-1")
    assert owner["controller"] is True and owner["apiVersion"] == "sovits.io/v1alpha1"


def test_job_and_pods_are_labelled_with_task_step_and_attempt() -> None:
    job = built(run=launch("slice_audio", attempt=3))

    for labels in (job["metadata"]["labels"], job["spec"]["template"]["metadata"]["labels"]):
        assert labels["sovits.io/task"] == "voice1"
        assert labels["sovits.io/task-uid"] == "uid-1"
        assert labels["sovits.io/step"] == "slice_audio"
        assert labels["sovits.io/attempt"] == "3"
    assert job["metadata"]["annotations"]["sovits.io/request-id"] == "req-7"


@pytest.mark.parametrize(
    ("spec_queue", "settings_queue", "expected"),
    [(None, None, None), (None, "team-a", "team-a"), ("team-b", "team-a", "team-b")],
)
def test_the_kueue_queue_label_is_set_only_when_a_queue_is_configured(
    spec_queue: str | None, settings_queue: str | None, expected: str | None
) -> None:
    task = a_task(queueName=spec_queue) if spec_queue else a_task()

    labels = built(task, operator={"queue_name": settings_queue})["metadata"]["labels"]

    assert labels.get(KUEUE_QUEUE_LABEL) == expected


def test_a_sharded_step_runs_as_an_indexed_job_with_one_pod_per_shard() -> None:
    job = built(run=launch("extract_semantic_features", shards=3, gpus=1), operator={"backoff_limit_per_index": 2})

    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == spec["parallelism"] == 3
    assert spec["backoffLimitPerIndex"] == 2
    assert "backoffLimit" not in spec
    assert env(job)["SOVITS_SHARD_COUNT"] == "3"
    assert container(job)["resources"]["limits"]["nvidia.com/gpu"] == "1"


def test_pull_secrets_and_affinity_from_settings_reach_the_pod() -> None:
    affinity = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": []}}

    job = built(images={"pull_secrets": ["regcred"]}, operator={"step_affinity": affinity})

    assert pod(job)["imagePullSecrets"] == [{"name": "regcred"}]
    assert pod(job)["affinity"] == affinity
