"""The data-pipeline benchmark: its measurement function runs, and its Pillow baseline does the pipeline's work."""
import numpy as np

from benchmarks.data_pipeline import (pillow_eval_image, pillow_images_per_second, pillow_train_image,
                                      pipeline_images_per_second, write_benchmark_images)
from src.data.dataset import create_dataset
from src.data.image_folder import read_image_folder


def test_both_pipelines_report_a_rate(tmp_path):
    folder = write_benchmark_images(str(tmp_path), 8)
    sizes = dict(image_height=64, image_width=48, batch_size=4, runs=1)
    assert pipeline_images_per_second(num_parallel_workers=1, training=True, data_path=folder, **sizes) > 0
    assert pillow_images_per_second(folder, training=False, workers=2, **sizes) > 0


def test_the_pillow_baseline_computes_what_the_pipeline_computes(tmp_path):
    folder = write_benchmark_images(str(tmp_path), 4)
    paths = [path for path, _ in read_image_folder(folder).samples]
    pipeline = np.concatenate([images for images, _ in create_dataset(folder, training=False, batch_size=4,
                                                                      image_height=64, image_width=48).dataset
                               .create_tuple_iterator(num_epochs=1, output_numpy=True)])
    baseline = np.stack([pillow_eval_image(path, 64, 48) for path in paths])
    assert baseline.shape == pipeline.shape == (4, 3, 64, 48) and baseline.dtype == np.float32
    # Pillow's and OpenCV's JPEG decoders and bilinear resizers differ by a few grey levels (std ~ 58 levels).
    assert np.abs(baseline - pipeline).mean() < 0.05
    train = pillow_train_image(paths[0], 64, 48, np.random.default_rng(0))
    assert train.shape == (3, 64, 48) and train.dtype == np.float32
