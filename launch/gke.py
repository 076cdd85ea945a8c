"""`gke`: a JobSet on GKE rendered from the launch config: one Indexed Job whose pods are the
slice's hosts (TPU node pools by accelerator and topology labels, or GPU nodes), each running the
worker; the workdir is a GCS bucket mounted by the GCS FUSE CSI driver; API keys come from a
Kubernetes secret. JobSet's failurePolicy.maxRestarts is the retry count: a failed or preempted pod
restarts the whole set, which resumes from the last checkpoint (JobSet restarts at once; there is
no backoff to configure there).

    python -m launch.gke --config configs/launch/qwen3_8b_v5p16_gke.py [--dry-run]
"""
from __future__ import annotations

import json
import pathlib
import sys
import tempfile

import ml_collections

from launch.accelerators import tpu
from launch.config import common_env, experiment_args
from launch.registry import LAUNCHERS
from launch.shell import Shell

JOB = "workers"


def _worker_env(lc: ml_collections.ConfigDict, hosts: int) -> list[dict]:
    c = lc.gke
    if c.accelerator == "gpu":  # JAX has no GKE GPU auto-detection: name the coordinator pod (JobSet DNS)
        env = [{"name": "PERSONAX_COORDINATOR", "value": f"{lc.name}-{JOB}-0-0.{lc.name}:{c.coordinator_port}"},
               {"name": "PERSONAX_NUM_PROCESSES", "value": str(hosts)},
               {"name": "PERSONAX_PROCESS_ID", "valueFrom": {"fieldRef": {
                   "fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"}}}]
    else:  # GKE sets TPU_WORKER_HOSTNAMES / TPU_WORKER_ID; JAX detects the slice from them
        env = [{"name": "PERSONAX_DISTRIBUTED", "value": "auto"}]
    if lc.forward_env and not c.secret:
        raise ValueError("launch config: forward_env needs gke.secret (a Kubernetes secret holding those keys)")
    env += [{"name": k, "value": v} for k, v in common_env(lc).items()]
    env += [{"name": n, "valueFrom": {"secretKeyRef": {"name": c.secret, "key": n}}} for n in lc.forward_env]
    return env


def manifest(lc: ml_collections.ConfigDict) -> dict:
    c = lc.gke
    if not c.image:
        raise ValueError("launch config: gke.image (a container image with personax at /app) is empty")
    if c.accelerator == "gpu":
        hosts = c.gpu_hosts
        selector = {"cloud.google.com/gke-accelerator": c.gpu_type}
        limits = {"nvidia.com/gpu": c.gpus_per_host}
    else:
        shape = tpu(c.accelerator)
        hosts = shape.hosts
        selector = {"cloud.google.com/gke-tpu-accelerator": shape.gke_accelerator,
                    "cloud.google.com/gke-tpu-topology": shape.topology}
        limits = {"google.com/tpu": shape.chips_per_host}
    container = {"name": "worker", "image": c.image, "workingDir": "/app",
                 "command": [lc.python, "-m", "launch.worker", *experiment_args(lc)],
                 "env": _worker_env(lc, hosts), "resources": {"limits": limits},
                 "ports": [{"containerPort": c.coordinator_port}]}
    pod = {"restartPolicy": "Never", "nodeSelector": selector, "containers": [container]}
    annotations = {}
    if c.gcs_bucket:
        annotations["gke-gcsfuse/volumes"] = "true"
        container["volumeMounts"] = [{"name": "workdir", "mountPath": c.mount}]
        pod["volumes"] = [{"name": "workdir", "csi": {"driver": "gcsfuse.csi.storage.gke.io", "volumeAttributes": {
            "bucketName": c.gcs_bucket, "mountOptions": "implicit-dirs"}}}]
    if c.service_account:
        pod["serviceAccountName"] = c.service_account
    job = {"parallelism": hosts, "completions": hosts, "completionMode": "Indexed", "backoffLimit": 0,
           "template": {"metadata": {"annotations": annotations}, "spec": pod}}
    return {"apiVersion": "jobset.x-k8s.io/v1alpha2", "kind": "JobSet",
            "metadata": {"name": lc.name, "namespace": c.namespace, "annotations": {  # one slice per node pool
                "alpha.jobset.sigs.k8s.io/exclusive-topology": "cloud.google.com/gke-nodepool"}},
            "spec": {"failurePolicy": {"maxRestarts": lc.retries},
                     "replicatedJobs": [{"name": JOB, "replicas": 1, "template": {"spec": job}}]}}


@LAUNCHERS.register("gke")
def launch_gke(lc: ml_collections.ConfigDict, shell: Shell) -> int:
    text = json.dumps(manifest(lc), indent=2)  # kubectl reads JSON manifests as they are
    path = pathlib.Path(tempfile.gettempdir()) / f"{lc.name}.jobset.json"
    shell.say(f"# {path}\n{text}")
    if not shell.dry_run:
        path.write_text(text)
    ns = ["-n", lc.gke.namespace]
    applied = shell.run(["kubectl", "apply", "-f", str(path), *ns])
    if applied is not None and applied.returncode:
        return applied.returncode
    selector = f"jobset.sigs.k8s.io/jobset-name={lc.name}"
    shell.run(["kubectl", "wait", "--for=condition=Ready", "pod", "-l", selector, "--timeout=3600s", *ns])
    shell.run(["kubectl", "logs", "-f", "-l", selector, "--prefix", "--max-log-requests=64", *ns])
    done = shell.run(["kubectl", "wait", f"jobset/{lc.name}", "--for=condition=Completed", "--timeout=600s", *ns])
    code = 0 if done is None else done.returncode
    shell.say(f"launch: JobSet {lc.name} {'completed' if code == 0 else 'did not complete'}; "
              f"remove it with: kubectl delete jobset {lc.name} -n {lc.gke.namespace}")
    return code


if __name__ == "__main__":
    from launch.cli import main
    sys.exit(main(backend="gke"))
