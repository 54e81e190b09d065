#!/usr/bin/env python3
"""Median latency of ONNX files in ONNX Runtime: CPU provider, intra- and inter-op threads
1, sequential execution, all graph optimisations, batch 1. Every file's session is made
and run 20 times untimed first; then ROUNDS rounds, each over the files in a fresh shuffled order, each
file 20 warm-up and 200 timed runs (perf_counter around session.run). Prints one JSON
object: the runtime's version, the settings, the load average before and after, and per
file the median over rounds of the round medians, and each round's median, in ms.
(A single pass was not enough here: one file measured 0.164 ms in one pass and
0.101-0.103 ms in every later one; single-pass-latency.json.)
usage: ort_time.py FILE.onnx [FILE.onnx ...]"""
import json, os, platform, random, sys, time
import numpy as np
import onnxruntime as ort

def session(path):
    o = ort.SessionOptions()
    o.intra_op_num_threads = 1
    o.inter_op_num_threads = 1
    o.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    o.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, o, providers=["CPUExecutionProvider"])

def measure(s, warmup=20, runs=200):
    i = s.get_inputs()[0]
    c, h, w = (d for d in i.shape[1:])
    x = np.random.default_rng(0).random((1, c, h, w), dtype=np.float32)
    for _ in range(warmup):
        s.run(None, {i.name: x})
    t = []
    for _ in range(runs):
        t0 = time.perf_counter()
        s.run(None, {i.name: x})
        t.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(t))

ROUNDS = 3
files = sys.argv[1:]
load0 = os.getloadavg()
sessions = {f: session(f) for f in files}
for f in files:
    x = np.zeros([1] + list(sessions[f].get_inputs()[0].shape[1:]), dtype=np.float32)
    for _ in range(20):
        sessions[f].run(None, {sessions[f].get_inputs()[0].name: x})
rounds = {f: [] for f in files}
rng = random.Random(0)
for _ in range(ROUNDS):
    order = files[:]
    rng.shuffle(order)
    for f in order:
        rounds[f].append(measure(sessions[f]))
res = {f: {"median_ms": float(np.median(rounds[f])), "rounds_ms": rounds[f]} for f in files}
print(json.dumps({"onnxruntime": ort.__version__, "cpu": platform.processor() or platform.machine(),
                  "threads": 1, "batch": 1, "warmup": 20, "runs": 200, "rounds": ROUNDS,
                  "loadavg_before": load0, "loadavg_after": os.getloadavg(),
                  "results": {os.path.basename(f): res[f] for f in files}}, indent=1))
