"""Harness throughput beside hand-written PyTorch loops: same model, data, batch size, optimizer and device.

For each workload, one process runs, interleaved and repeated:

* the harness: a real run through ``harness.train.runner.execute`` (the code path
  of ``harness run``), its own reported samples/s;
* the usual hand loop: ``DataLoader(TensorDataset(x, y), shuffle=True)``;
* the fastest hand loop: the tensors on the device, one ``randperm`` per epoch,
  batches sliced from them (what the harness itself does for small data).

Every variant is timed the same way: the first epoch is warm-up and left out,
then samples/s over the remaining epochs (device synchronised before clocks
are read; the harness's validation passes are excluded by its meter, the
hand loops have none). The variants of one repeat run back to back, in an
order that rotates between repeats; a ratio is the median over repeats of the
harness's rate over the loop's rate *in the same repeat* (with the 10th-90th
percentile spread), because this kind of shared machine drifts by several
percent within seconds. Each variant's best repeat and its median are in the
JSON, with every repeat's rate, and ``harness_ms_per_step``: what the harness
adds to a step, visible on the small models.

With ``--device cuda`` it adds the GPU workloads of issue 4: the CNN and
ResNet-50 on synthetic ImageNet-sized images at bf16-mixed and channels-last, beside a hand loop written the way timm's
``benchmark.py`` times training (a fixed batch on the device), and a timm
model through the same path when timm is installed; MFU and peak memory are
reported side by side.

    python benchmarks/overhead.py            # table
    python benchmarks/overhead.py --json     # one JSON object; keys name the ratios
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from common import emit, machine, median, parser  # noqa: E402

from harness.api import load_registry  # noqa: E402
from harness.config import expand, make_suite  # noqa: E402
from harness.errors import HarnessError  # noqa: E402
from harness.specs import unavailable_reason  # noqa: E402
from harness.train.devices import resolve_device  # noqa: E402
from harness.train.measure import peak_flops, training_flops  # noqa: E402
from harness.train.runner import execute, load_dataset  # noqa: E402

GPU_PLUGIN = Path(__file__).resolve().parent / "gpu_models.py"

#: name -> suite settings of one cell; ``epochs`` includes the warm-up epoch
CPU_WORKLOADS = {
    # 64 features -> 32 -> 10 on 8192 samples: a step of ~0.3 ms, where any per-step cost shows
    "tiny_mlp": {
        "models": ["mlp[hidden=[32]]"],
        "datasets": ["synthetic-sequence[shape=[1,64],train_size=8192]"],
        "batch_size": [128],
        "epochs": 21,
    },
    "digits_mlp": {"models": ["mlp"], "datasets": ["digits"], "batch_size": [64], "epochs": 81},
    "cnn": {
        "models": ["cnn"],
        "datasets": ["synthetic-image[shape=[1,28,28],train_size=2048]"],
        "batch_size": [128],
        "epochs": 6,
    },
    # a zoo model (issue 15): timm's ResNet-18 on 32x32 colour images, a CPU step well over 10 ms, so the
    # 0.98 target applies; left out, saying so, where the zoo extra is not installed
    "timm_resnet18": {
        "models": ["timm/resnet18"],
        "datasets": ["synthetic-image[shape=[3,32,32],train_size=1024]"],
        "batch_size": [64],
        "epochs": 4,
    },
}
_IMAGENET = "synthetic-image[shape=[3,224,224],num_classes=1000,train_size=2048,val_size=128,test_size=128]"
GPU_WORKLOADS = {
    "cnn_bf16": {
        "models": ["cnn"],
        "datasets": ["synthetic-image[shape=[3,32,32],train_size=16384]"],
        "batch_size": [256],
        "epochs": 6,
        "precision": "bf16-mixed",
        "channels_last": True,
    },
    "resnet50_bf16": {
        "models": ["torchvision-resnet50"],
        "datasets": [_IMAGENET],
        "batch_size": [128],
        "epochs": 4,
        "precision": "bf16-mixed",
        "channels_last": True,
    },
    "timm_resnet50_bf16": {
        "models": ["timm[name=resnet50]"],
        "datasets": [_IMAGENET],
        "batch_size": [128],
        "epochs": 4,
        "precision": "bf16-mixed",
        "channels_last": True,
    },
}


def _config(registry, workload: dict, device: str):
    settings = {k: v for k, v in workload.items() if k != "epochs"}
    suite = make_suite(
        {
            "optimizers": ["sgd"],
            "seeds": [0],
            "max_epochs": workload["epochs"],
            "accelerator": device,
            **settings,
        }
    )
    runs, skipped = expand(suite, registry)
    if not runs:
        raise SystemExit(f"workload cannot run here: {skipped}")
    return runs[0]


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _harness(config, registry):
    """samples/s that the harness itself reports for the run, and its MFU and peak memory."""
    steps_per_epoch = -(-_train_size(config, registry) // config.batch_size)
    config = type(config)(**{**config.as_dict(), "warmup_steps": steps_per_epoch})
    record = execute(config, registry)
    if record["status"] != "ok":
        raise SystemExit(f"harness run failed: {record['reason']}\n{record['traceback']}")
    results = record["results"]
    return results["samples_per_s"], results.get("mfu"), results.get("peak_memory_mb")


def _train_size(config, registry) -> int:
    return len(load_dataset(registry.get("dataset", config.dataset), config.dataset_params).train[0])


def _build(config, registry, device):
    """The same model and optimizer the harness builds for ``config``."""
    data = load_dataset(registry.get("dataset", config.dataset), config.dataset_params)
    torch.manual_seed(config.seed)
    model = registry.get("model", config.model).spec.build(data.info, **config.model_params).to(device)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = registry.get("optimizer", config.optimizer).spec.build(model.parameters(), **config.optimizer_params)
    return data, model, optimizer


def _autocast(config, device):
    if config.precision == "bf16-mixed":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return torch.autocast(device.type, enabled=False)


def _step(model, optimizer, x, y):
    loss = F.cross_entropy(model(x), y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


class _Clock:
    """samples/s over every epoch but the first, which is warm-up; the device is synchronised before each reading."""

    def __init__(self, device):
        self.device = device
        self.rate = None

    def batches(self, epochs):
        seen, start = 0, None
        for index, batches in enumerate(epochs):
            if index == 1:
                _sync(self.device)
                start = time.perf_counter()
            for x, y in batches:
                yield x, y
                if index >= 1:
                    seen += len(y)
        _sync(self.device)
        self.rate = seen / (time.perf_counter() - start)


def _dataloader_loop(config, registry, device) -> float:
    data, model, optimizer = _build(config, registry, device)
    x, y = data.train
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x, y),
        batch_size=config.batch_size,
        shuffle=True,
        pin_memory=device.type == "cuda",
    )
    memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
    model.train()
    clock = _Clock(device)
    with _autocast(config, device):
        for xb, yb in clock.batches(loader for _ in range(config.max_epochs)):
            xb = xb.to(device, non_blocking=True).contiguous(memory_format=memory_format)
            _step(model, optimizer, xb, yb.to(device, non_blocking=True))
    return clock.rate


def _fastest_loop(config, registry, device) -> float:
    data, model, optimizer = _build(config, registry, device)
    x, y = (t.to(device) for t in data.train)
    if config.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    generator = torch.Generator().manual_seed(0)
    n, size = len(y), config.batch_size

    def epoch():
        order = torch.randperm(n, generator=generator).to(device)
        xs, ys = x[order], y[order]
        if config.channels_last:
            xs = xs.contiguous(memory_format=torch.channels_last)
        return [(xs[i : i + size], ys[i : i + size]) for i in range(0, n, size)]

    model.train()
    clock = _Clock(device)
    with _autocast(config, device):
        for xb, yb in clock.batches(epoch() for _ in range(config.max_epochs)):
            _step(model, optimizer, xb, yb)
    return clock.rate


def _timm_style_loop(config, registry, device):
    """timm benchmark.py's training measurement: one fixed batch on the device, synchronised timing."""
    data, model, optimizer = _build(config, registry, device)
    x = data.train[0][: config.batch_size].to(device)
    y = data.train[1][: config.batch_size].to(device)
    if config.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    steps_per_epoch = -(-len(data.train[1]) // config.batch_size)
    warmup, measured = steps_per_epoch, steps_per_epoch * (config.max_epochs - 1)
    model.train()
    torch.cuda.reset_peak_memory_stats(device)
    with _autocast(config, device):
        for _ in range(warmup):
            _step(model, optimizer, x, y)
        _sync(device)
        start = time.perf_counter()
        for _ in range(measured):
            _step(model, optimizer, x, y)
        _sync(device)
    rate = measured * config.batch_size / (time.perf_counter() - start)
    flops = training_flops(model, lambda: F.cross_entropy(model(x), y), device)
    peak = peak_flops(device, config.precision)
    mfu = flops / config.batch_size * rate / peak if flops and peak else None
    return rate, mfu, torch.cuda.max_memory_allocated(device) / 2**20


def _variants(config, registry, device, rates: dict, gpu: dict) -> list:
    """One callable per way of training the workload; each appends what it measured."""

    def harness_run():
        rate, mfu, memory = _harness(config, registry)
        rates["harness"].append(rate)
        gpu["harness_mfu"].append(mfu)
        gpu["harness_mem"].append(memory)

    def timm_run():
        rate, mfu, memory = _timm_style_loop(config, registry, device)
        gpu["timm_loop"].append(rate)
        gpu["timm_mfu"].append(mfu)
        gpu["timm_mem"].append(memory)

    variants = [
        harness_run,
        lambda: rates["dataloader_loop"].append(_dataloader_loop(config, registry, device)),
        lambda: rates["fastest_loop"].append(_fastest_loop(config, registry, device)),
    ]
    if device.type == "cuda":
        variants.append(timm_run)
    return variants


def measure(workloads: dict, device_name: str, repeats: int, registry) -> dict:
    device = resolve_device(device_name)
    results = {}
    for name, workload in workloads.items():
        config = _config(registry, workload, device_name)
        rates = {"harness": [], "dataloader_loop": [], "fastest_loop": []}
        gpu = {"timm_loop": [], "harness_mfu": [], "timm_mfu": [], "harness_mem": [], "timm_mem": []}
        variants = _variants(config, registry, device, rates, gpu)
        for repeat in range(repeats):
            for index in range(len(variants)):  # a different variant goes first in each repeat
                variants[(repeat + index) % len(variants)]()
        row = {key: max(values) for key, values in rates.items()}  # each variant's best repeat
        row["median"] = {key: median(values) for key, values in rates.items()}
        row["all"] = rates  # every repeat, in the order run
        row["step_ms_fastest_loop"] = config.batch_size / row["fastest_loop"] * 1000
        row.update(_ratios(rates, "dataloader_loop"))
        row.update(_ratios(rates, "fastest_loop"))
        # what the harness adds to each step, in ms: only meaningful where steps are short enough to see it
        row["harness_ms_per_step"] = median(
            [
                (1 / h - 1 / f) * config.batch_size * 1000
                for h, f in zip(rates["harness"], rates["fastest_loop"], strict=True)
            ]
        )
        if device.type == "cuda":
            row["timm_loop"] = max(gpu["timm_loop"])
            row.update(_ratios({"harness": rates["harness"], "timm_loop": gpu["timm_loop"]}, "timm_loop"))
            for key in ("harness_mfu", "timm_mfu", "harness_mem", "timm_mem"):
                known = [v for v in gpu[key] if v is not None]
                row[key] = median(known) if known else None
        row["targets"] = _targets(name, row, device)
        row["targets_met"] = all(row["targets"].values())
        results[name] = row
    return results


def _ratios(rates: dict, loop: str) -> dict:
    """Harness over ``loop``: the median of the per-repeat ratios, and their 10th-90th percentile spread.

    The two were measured back to back in each repeat, so a ratio compares
    them under the same machine conditions; on a shared CPU whose speed
    drifts by several percent over seconds, that is far steadier than
    comparing each side's best or median repeat.
    """
    ratios = sorted(h / other for h, other in zip(rates["harness"], rates[loop], strict=True))
    low, high = ratios[int(0.1 * (len(ratios) - 1))], ratios[math.ceil(0.9 * (len(ratios) - 1))]
    return {f"ratio_vs_{loop}": median(ratios), f"ratio_vs_{loop}_p10_p90": [low, high]}


def _targets(name: str, row: dict, device) -> dict:
    """Issue 4's targets for one workload."""
    targets = {"ratio_vs_dataloader_loop >= 1.0": row["ratio_vs_dataloader_loop"] >= 1.0}
    if name == "tiny_mlp":
        targets["ratio_vs_fastest_loop >= 0.9"] = row["ratio_vs_fastest_loop"] >= 0.9
    if row["step_ms_fastest_loop"] >= 10:
        targets["ratio_vs_fastest_loop >= 0.98"] = row["ratio_vs_fastest_loop"] >= 0.98
    if device.type == "cuda":
        targets["ratio_vs_timm_loop >= 0.98"] = row["ratio_vs_timm_loop"] >= 0.98
    return targets


def table(results: dict) -> str:
    from tabulate import tabulate

    rows = []
    for name, row in results.items():
        rows.append(
            [
                name,
                f"{row['step_ms_fastest_loop']:.2f}",
                f"{row['harness']:,.0f}",
                f"{row['dataloader_loop']:,.0f}",
                f"{row['fastest_loop']:,.0f}",
                f"{row['ratio_vs_dataloader_loop']:.2f}",
                "{:.3f} ({:.2f}-{:.2f})".format(row["ratio_vs_fastest_loop"], *row["ratio_vs_fastest_loop_p10_p90"]),
                *(
                    [f"{row['ratio_vs_timm_loop']:.3f}", _pct(row["harness_mfu"]), _pct(row["timm_mfu"])]
                    if "timm_loop" in row
                    else []
                ),
                "yes" if row["targets_met"] else "NO: " + ", ".join(k for k, v in row["targets"].items() if not v),
            ]
        )
    headers = ["workload", "step ms", "harness /s (best)", "DataLoader loop /s", "fastest loop /s", "vs DataLoader"]
    headers += ["vs fastest (p10-p90)"]
    if any("timm_loop" in row for row in results.values()):
        headers += ["vs timm loop", "harness MFU", "timm-loop MFU"]
    return tabulate(rows, headers=headers + ["targets met"], disable_numparse=True)


def _pct(value):
    return "-" if value is None else f"{100 * value:.1f}%"


def main() -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda (adds the GPU workloads)")
    p.add_argument("--workloads", help="comma list of workload names (default: all for the device)")
    p.set_defaults(repeats=9)  # ratios are medians over repeats: more repeats, steadier medians
    args = p.parse_args()
    plugins = [str(GPU_PLUGIN)] if args.device != "cpu" else []
    registry = load_registry(plugins)
    workloads = dict(CPU_WORKLOADS)
    if args.device != "cpu":
        workloads.update(GPU_WORKLOADS)
    for name in list(workloads):
        model = workloads[name]["models"][0].split("[")[0]
        try:
            reason = unavailable_reason(registry.get("model", model).spec)
        except HarnessError as exc:  # a family whose plugin is not installed: no such name at all
            reason = str(exc)
        if reason:
            print(f"left out {name}: {reason}", file=sys.stderr)  # e.g. timm not installed
            del workloads[name]
    if args.workloads:
        workloads = {k: workloads[k] for k in args.workloads.split(",")}
    results = measure(workloads, args.device, args.repeats, registry)
    summary = {
        "machine": machine(),
        "device": args.device,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "repeats": args.repeats,
        "workloads": results,
        "targets_met": all(row["targets_met"] for row in results.values()),
    }
    return emit(summary, table(results), args.json, args.check)


if __name__ == "__main__":
    sys.exit(main())
