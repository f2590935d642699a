"""benchmark.py: a real run at a tiny size reports every figure in its table and its JSON; misuse fails on one line."""
import json

import pytest

from conftest import run_script

TINY = ('--device_target', 'CPU', '--batch_size', '2', '--image_height', '32', '--image_width', '32',
        '--num_classes', '10', '--base_width', '8', '--bench_steps', '2', '--bench_warmup', '1',
        '--bench_pipeline_images', '8')
MODEL_FIGURES = ('images_per_s', 'step_s_median', 'first_call_s', 'gflop_per_s', 'fraction_of_matmul_bound',
                 'peak_rss_mib')


@pytest.fixture(scope='module')
def tiny_run(tmp_path_factory):
    output = tmp_path_factory.mktemp('benchmark') / 'result.json'
    result = run_script('benchmark.py', *TINY, '--bench_output', str(output), timeout=300)
    assert result.returncode == 0, result.stderr
    return result, json.loads(output.read_text())


def test_json_has_every_figure(tiny_run):
    _, report = tiny_run
    assert report['matmul_bound_gflop_per_s'] > 0
    assert report['forward_gflop_per_image'] > 0
    for phase in ('training', 'inference'):
        figures = report[phase]
        assert all(figures[key] > 0 for key in MODEL_FIGURES), figures
        assert len(figures['step_s']) == 2
    assert report['training']['amp_level'] == 'O0'
    assert report['data_pipeline']['images_per_s'] > 0 and report['data_pipeline']['workers'] >= 1
    assert report['peak_rss_scope'] in ('phase', 'process')
    assert report['machine']['device_target'] == 'CPU' and report['machine']['cpus'] >= 1
    assert report['machine']['cpu_settings']['ONEDNN_MAX_CPU_ISA']
    assert report['config']['batch_size'] == 2 and report['config']['image_height'] == 32
    assert report['small_map_convs'] > 0  # 32x32 leaves 2x2 and 1x1 maps
    assert 'official model' in report['pytorch']['none']  # base width 8: PyTorch's reference is full width
    assert len(report['load_average_before']) == len(report['load_average_after']) == 3


def test_every_rate_comes_from_the_median_timed_step(tiny_run):
    """Images/s, GFLOP/s and the fraction of the bound follow from the median of the timed steps (warm-up left out),
    the batch of 2, and the forward FLOPs per image (three times as many for a training step: forward, and the
    gradients of inputs and weights)."""
    import statistics
    _, report = tiny_run
    for phase, passes in (('inference', 1), ('training', 3)):
        figures = report[phase]
        assert figures['step_s_median'] == statistics.median(figures['step_s'])
        assert figures['images_per_s'] == pytest.approx(2 / figures['step_s_median'])
        gflops = 2 * passes * report['forward_gflop_per_image'] / figures['step_s_median']
        assert figures['gflop_per_s'] == pytest.approx(gflops)
        assert figures['fraction_of_matmul_bound'] == pytest.approx(gflops / report['matmul_bound_gflop_per_s'])


def test_the_full_model_costs_8_34_gflop_per_224_image():
    """8.34 GFLOP per 224 x 224 image, counted from the layers (2 x 4.17 G multiply-adds), and 25,915,099
    parameters."""
    import mindspore as ms

    from src.models.cost import multiply_adds, parameter_count
    from src.models.resnet import resnet50_bam
    net = resnet50_bam()
    assert 2 * multiply_adds(net, 224, 224) == pytest.approx(8.34e9, rel=1e-3)
    assert parameter_count(net) == 25_915_099
    assert ms.get_context('mode') == ms.PYNATIVE_MODE  # the mode it found is restored


def test_progress_and_table_are_printed(tiny_run):
    result, _ = tiny_run
    for phase in ('float32 matrix multiply', 'inference', 'training step', 'data pipeline'):
        assert f'[benchmark] {phase}' in result.stdout
    assert 'matmul bound:' in result.stdout and 'of bound' in result.stdout


@pytest.mark.parametrize('arguments, message', [
    (('--run_distribute', 'true'), 'benchmark.py does not take --run_distribute: it is a setting of train.py'),
    (('--bench_steps', '0'), '--bench_steps must be positive'),
    (('--bench_warmup', '-1'), '--bench_warmup must not be negative'),
])
def test_misuse_fails_on_one_line(arguments, message):
    result = run_script('benchmark.py', '--device_target', 'CPU', *arguments, timeout=120)
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_pytorch_reference_times_the_official_model_in_its_own_process():
    from benchmark import TorchReference
    from src.config import defaults
    cfg = defaults()
    cfg.update(batch_size=2, image_height=32, image_width=32, num_classes=10)
    assert TorchReference.why_not(cfg, 'CPU') is None
    reference = TorchReference(cfg)
    try:
        assert reference.step('train') > 0 and reference.step('infer') > 0
    finally:
        reference.close()
    assert reference.process.returncode == 0
    cfg.base_width = 16
    assert 'official model' in TorchReference.why_not(cfg, 'CPU')
