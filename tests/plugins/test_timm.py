"""The timm family (``timm/<name>``): a sample of architectures trained through the harness's own path on
MNIST- and CIFAR-shaped images, the family through the registry, offline pretrained weights, clear errors."""

import socket
import subprocess
import sys

import pytest

try:
    import timm
    import torchvision  # noqa: F401  (timm imports it; a torchvision built for another torch fails here)
except Exception as exc:  # ImportError, or RuntimeError "operator torchvision::nms does not exist"
    pytest.skip(
        f"the timm family needs timm and torchvision importable (pip install 'harness-dl[zoo]'): "
        f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
        allow_module_level=True,
    )

import torch
from harness_timm import package_missing, zoo
from harness_timm.adapt import choose_patch

import harness
from harness.errors import ConfigError, UnknownNameError
from harness.specs import DatasetInfo
from harness.train.tasks import wrap

#: One or two of the tiniest members of many families: ResNet, ConvNeXt, EfficientNet (TinyNet), MobileNet V3
#: and V4, RegNet, ViT, DeiT, Swin (windowed), MLP-Mixer, LeViT, MobileViT, EfficientViT (windowed), LCNet,
#: EdgeNeXt, PVT-v2, Inception, MambaOut.
SAMPLE = [
    "resnet10t",
    "convnext_atto",
    "tinynet_e",
    "mobilenetv3_small_050",
    "mobilenetv4_conv_small",
    "regnetx_002",
    "vit_tiny_patch16_224",
    "deit_tiny_patch16_224",
    "swin_tiny_patch4_window7_224",
    "mixer_s16_224",
    "levit_128s",
    "mobilevit_xxs",
    "efficientvit_m0",
    "lcnet_050",
    "edgenext_xx_small",
    "pvt_v2_b0",
    "inception_v3",
    "mambaout_femto",
]
SHAPES = [(1, 28, 28), (3, 32, 32)]
#: Pairs that must train: a skip here is a regression of the fitting, not a limit of the architecture.
MUST_TRAIN = {
    (arch, shape)
    for arch in ("resnet10t", "mobilenetv3_small_050", "regnetx_002", "vit_tiny_patch16_224", "deit_tiny_patch16_224",
                 "swin_tiny_patch4_window7_224")
    for shape in SHAPES
} | {("convnext_atto", (1, 28, 28)), ("convnext_atto", (3, 32, 32)), ("mixer_s16_224", (3, 32, 32))}  # fmt: skip
STEPS = 2


def image_info(shape, num_classes=10):
    return DatasetInfo(task="classification", modality="image", input_shape=shape, num_classes=num_classes)


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection fails the test: the family must never reach for the network."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"a network connection was attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.parametrize("shape", SHAPES, ids=["1x28x28", "3x32x32"])
@pytest.mark.parametrize("arch", SAMPLE)
def test_a_sample_of_architectures_trains_or_says_why_not(arch, shape, registry, one_thread, no_network):
    spec = registry.get("model", f"timm/{arch}").spec
    info = image_info(shape)
    torch.manual_seed(0)
    try:
        net = spec.build(info, **spec.defaults)
    except ValueError as exc:  # the only other outcome: the model cannot take these images, and says why
        assert str(exc).startswith(f"timm/{arch} cannot take a {'x'.join(map(str, shape))} input: "), exc
        assert (arch, shape) not in MUST_TRAIN, exc
        pytest.skip(str(exc))
    module = wrap(net, info)
    optimizer = torch.optim.AdamW(module.parameters(), lr=1e-3)
    images, labels = torch.randn(4, *shape), torch.arange(4) % 10
    module.train()
    for step in range(STEPS):
        loss = module.training_step((images, labels), step)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        assert torch.isfinite(loss.detach()), (arch, shape, step)


def test_a_vit_is_fitted_to_small_images_with_a_patch_that_tiles_them(registry, one_thread):
    spec = registry.get("model", "timm/vit_tiny_patch16_224").spec
    net = spec.build(image_info((1, 28, 28), num_classes=7), **spec.defaults)
    assert net.patch_embed.patch_size == (4, 4) and net.patch_embed.grid_size == (7, 7)
    assert net.patch_embed.proj.in_channels == 1 and net.head.out_features == 7
    net = spec.build(image_info((3, 28, 28)), **{**spec.defaults, "patch_size": 7})
    assert net.patch_embed.grid_size == (4, 4)  # an explicit patch is kept


def test_a_convnext_gets_a_finer_stem_only_when_small_images_need_one(registry, one_thread):
    spec = registry.get("model", "timm/convnext_atto").spec
    net = spec.build(image_info((1, 28, 28)), **spec.defaults)  # 28 / 4 leaves its last stage under 2x2
    assert net.stem[0].stride == (1, 1) and net(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    assert spec.build(image_info((3, 32, 32)), **spec.defaults).stem[0].stride == (4, 4)  # 32 / 4 fits: its own
    with pytest.raises(ValueError, match="cannot take a 1x28x28 input"):  # a stem the user chose is kept
        spec.build(image_info((1, 28, 28)), **{**spec.defaults, "patch_size": 4})


@pytest.mark.parametrize(
    ("native", "height", "width", "chosen"),
    [(16, 224, 224, 16), (16, 28, 28, 4), (16, 32, 32, 4), (14, 28, 28, 4), (4, 28, 28, 4), (16, 8, 8, 1),
     (32, 64, 48, 4), (16, 5, 5, 1)],
)  # fmt: skip
def test_a_patch_is_the_models_own_unless_it_leaves_a_grid_under_7(native, height, width, chosen):
    assert choose_patch(native, height, width) == chosen


def test_an_image_a_model_cannot_take_fails_fast_with_the_reason(registry, one_thread, no_network):
    spec = registry.get("model", "timm/inception_v3").spec
    with pytest.raises(ValueError, match=r"^timm/inception_v3 cannot take a 1x8x8 input: RuntimeError: "):
        spec.build(image_info((1, 8, 8)), **spec.defaults)
    mixer = registry.get("model", "timm/mixer_s16_224").spec
    with pytest.raises(ValueError, match=r"16x16 patches do not tile 28x28 images.* fixes its patch_size at 16"):
        mixer.build(image_info((1, 28, 28)), **mixer.defaults)
    with pytest.raises(ValueError, match="needs images"):
        spec.build(DatasetInfo(task="classification", modality="image", input_shape=(64,), num_classes=10))


def test_overrides_reach_create_model_and_are_checked(registry, one_thread, tmp_path):
    spec = registry.get("model", "timm/resnet10t").spec
    net = spec.build(image_info((3, 32, 32)), **{**spec.defaults, "drop_rate": 0.25, "global_pool": "max"})
    assert net.drop_rate == 0.25 and net.global_pool.pool_type == "max"
    with pytest.raises(ValueError, match=r"timm/resnet10t cannot be built with .*window_size=4: TypeError"):
        spec.build(image_info((3, 32, 32)), **{**spec.defaults, "window_size": 4})
    for bad, message in (("drop_rate=abc", "drop_rate must be a number in"), ("drop_path_rate=1.5", "in \\[0, 1\\)"),
                         ("patch_size=0", "patch_size must be a positive"), ("pretrained=yes", "expected true"),
                         ("drop_rat=0.1", "did you mean: drop_rate")):  # fmt: skip
        with pytest.raises(ConfigError, match=message):
            harness.plan(models=f"timm/resnet10t[{bad}]", datasets="digits", optimizers="adamw", output=tmp_path)


def test_the_family_through_the_registry(registry):
    entry = registry.get("model", "timm/resnet18")
    assert entry.name == "timm/resnet18" and entry.plugin == "harness_timm"
    assert entry.spec.tasks == ("classification",) and entry.spec.modalities == ("image",)
    assert registry.get("model", "timm/resnet18.a1_in1k").name == "timm/resnet18.a1_in1k"  # a pretrained tag
    with pytest.raises(UnknownNameError, match=r"unknown model 'timm/resnet181' \(did you mean: timm/resnet18"):
        registry.get("model", "timm/resnet181")
    with pytest.raises(UnknownNameError, match="unknown model 'timm/resnet18.no_such_tag'"):
        registry.get("model", "timm/resnet18.no_such_tag")
    vits = registry.select("model", "timm/*vit_tiny*")
    assert "timm/vit_tiny_patch16_224" in vits and all("vit_tiny" in name for name in vits)
    assert len(zoo.names()) == len(timm.list_models())


def test_one_run_trains_through_the_harness(tmp_path):
    # one thread and small batches: on a small shared machine two threads per worker are many times slower
    result = harness.run(models="timm/resnet10t", datasets="digits", optimizers="adamw", seeds=1, max_steps=30,
                         batch_size=16, threads=1, output=tmp_path / "out")  # fmt: skip
    (record,) = result.records
    assert record["status"] == "ok", record.get("reason")
    assert record["config"]["model"] == "timm/resnet10t" and record["results"]["test_metric"] > 0.1


def test_pretrained_without_local_weights_fails_offline_with_the_way_out(
    registry, one_thread, tmp_path, monkeypatch, no_network
):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    spec = registry.get("model", "timm/resnet10t").spec
    with pytest.raises(ValueError, match=r"never downloads.*hf.*torch.*pretrained_file=PATH") as caught:
        spec.build(image_info((3, 32, 32)), **{**spec.defaults, "pretrained": True})
    assert "timm.create_model('resnet10t.c3_in1k', pretrained=True)" in str(caught.value)
    with pytest.raises(ValueError, match="pretrained_file '/nowhere.pth' is not a file"):
        spec.build(image_info((3, 32, 32)), **{**spec.defaults, "pretrained_file": "/nowhere.pth"})


def fake_hub_cache(root, repo, weights: dict):
    """A Hugging Face cache holding ``repo``'s model.safetensors, laid out as huggingface_hub leaves it."""
    from safetensors.torch import save_file

    folder = root / f"models--{repo.replace('/', '--')}"
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text("0" * 40)
    snapshot = folder / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    save_file({key: value.contiguous() for key, value in weights.items()}, snapshot / "model.safetensors")


def test_pretrained_weights_load_from_a_file_or_the_local_cache_adapted_to_the_dataset(
    registry, one_thread, tmp_path, monkeypatch, no_network
):
    import huggingface_hub.constants

    torch.manual_seed(1)
    source = timm.create_model("resnet10t")  # ImageNet-shaped: 3 channels, 1000 classes
    weights = source.state_dict()
    torch.save(weights, tmp_path / "weights.pth")
    spec = registry.get("model", "timm/resnet10t").spec
    info = image_info((1, 28, 28))
    net = spec.build(info, **{**spec.defaults, "pretrained_file": str(tmp_path / "weights.pth")})
    assert torch.equal(net.layer1[0].conv1.weight, weights["layer1.0.conv1.weight"])
    assert net.conv1[0].weight.shape[1] == 1 and net.fc.out_features == 10  # first conv summed, head replaced

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    fake_hub_cache(tmp_path / "hf", "timm/resnet10t.c3_in1k", weights)
    net = spec.build(info, **{**spec.defaults, "pretrained": True})
    assert torch.equal(net.layer2[0].conv2.weight, weights["layer2.0.conv2.weight"])


def test_a_timm_that_cannot_be_imported_says_what_to_install(monkeypatch):
    broken = RuntimeError("operator torchvision::nms does not exist")
    message = zoo.import_failure(broken, {"torch": "2.13.0", "torchvision": "0.29.1+cpu"})
    assert "\n" not in message and "operator torchvision::nms does not exist" in message
    assert "torchvision 0.29.1+cpu is not built for torch 2.13.0: pip install 'torchvision==0.28.*'" in message
    monkeypatch.setitem(sys.modules, "timm", None)
    with pytest.raises(
        ImportError, match=r"^timm cannot be imported here \(ModuleNotFoundError: .*\); pip install timm"
    ):
        zoo.import_timm()


def test_the_check_is_cheap_and_says_what_to_install(monkeypatch):
    assert package_missing() is None
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torchvision" else real(name))
    assert package_missing().startswith("torchvision is not installed: pip install torchvision")


def test_importing_the_plugin_imports_neither_timm_nor_torch():
    code = (
        "import sys, harness_timm; harness_timm.harness_register_families();"
        "print(sorted(m for m in ('timm', 'torch', 'torchvision') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
