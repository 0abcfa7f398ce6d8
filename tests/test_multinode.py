"""Several machines, for real: two network namespaces joined by a veth pair stand for two hosts
(tests/_two_hosts.py); `torchrun --nnodes 2` with a c10d rendezvous on the first host's address
starts the processes, whose every connection (rendezvous, store, gloo) crosses the link.

Skipped, with the reason, where the machine does not allow creating network namespaces."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ._two_hosts import Hosts, missing_rights, two_hosts
from .test_parallel import assert_equals_one_process, assert_same_finished_run, odd_batch_run_config

ROOT = Path(__file__).resolve().parents[1]
WHY_NOT = missing_rights()
pytestmark = pytest.mark.skipif(WHY_NOT is not None, reason=f"two network namespaces cannot be made: {WHY_NOT}")
PORT = 29400


def torchrun_on_both(hosts: Hosts, per_node: int, script_args: list[str], *, run_id: str, max_restarts: int = 0,
                     timeout: float = 600) -> list[subprocess.CompletedProcess]:
    """`torchrun --nnodes 2 --nproc-per-node per_node` on each host, the first one hosting the c10d
    rendezvous store; the two outcomes (returncode, stdout, stderr)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    procs = []
    for host in (0, 1):
        argv = [sys.executable, "-m", "torch.distributed.run", "--nnodes=2", f"--nproc-per-node={per_node}",
                "--rdzv-backend=c10d", f"--rdzv-endpoint={hosts.addresses[0]}:{PORT}", f"--rdzv-id={run_id}",
                f"--rdzv-conf=is_host={int(host == 0)}", f"--local-addr={hosts.addresses[host]}",
                f"--max-restarts={max_restarts}", *script_args]
        procs.append(hosts.popen(host, argv, env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    done = []
    for proc in procs:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            raise
        done.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return done


@pytest.fixture(scope="module")
def hosts():
    with two_hosts() as made:
        yield made


def test_the_two_hosts_reach_each_other_only_over_their_link(hosts):
    """The setup itself: each namespace has its own address and nothing else but loopback."""
    shown = subprocess.run(hosts.command(1, ["ip", "-o", "-4", "addr"]), capture_output=True, text=True, check=True)
    addresses = sorted(line.split()[3] for line in shown.stdout.splitlines())
    assert addresses == ["10.213.7.2/24", "127.0.0.1/8"]


@pytest.mark.parametrize("per_node", [1, 2])
def test_two_hosts_equal_one_process_on_the_global_batch(hosts, tmp_path, per_node):
    """2 hosts x `per_node` gloo processes, 12 steps of ls, pcgrad and nash_mtl: the parameters equal a
    single process's on the same global batch within 1e-5."""
    methods = ["ls", "pcgrad", "nash_mtl"]
    done = torchrun_on_both(hosts, per_node, [str(ROOT / "tests" / "_ddp_worker.py"), str(tmp_path), "1", *methods],
                            run_id=f"equal{per_node}")
    for proc in done:
        assert proc.returncode == 0, proc.stderr[-3000:]
    assert_equals_one_process(tmp_path, methods)


def test_a_worker_killed_on_one_host_is_restarted_and_the_run_continues_by_itself(hosts, toy_csv_task, tmp_path):
    """`--max-restarts 1` on both hosts, one process each: rank 1 is SIGKILLed at step 5. Both agents
    restart their process (the other host's fails on the lost connection, or is restarted healthy
    when its agent sees the new rendezvous first: then with its restart count still 0, the case
    `meet` covers, see test_parallel), and the new group resumes from the step-4 checkpoint in the
    shared runs directory: the same history and model as the uninterrupted two-process run on one box."""
    whole = odd_batch_run_config(toy_csv_task, tmp_path / "whole")
    killed = odd_batch_run_config(toy_csv_task, tmp_path / "killed")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    plain = subprocess.run([sys.executable, "-m", "textmtl.cli", "train", str(whole), "--nproc", "2", "--quiet"],
                           env=env, capture_output=True, text=True, timeout=600)
    assert plain.returncode == 0, plain.stderr[-3000:]
    done = torchrun_on_both(hosts, 1, [str(ROOT / "tests" / "_restart_worker.py"), str(killed)], run_id="restart",
                            max_restarts=1)
    for proc in done:
        assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "killed" / "killed-once").exists()  # a process did die
    assert any("SIGKILL" in p.stderr or "exitcode: -9" in p.stderr for p in done)
    assert_same_finished_run(tmp_path / "whole", tmp_path / "killed")
