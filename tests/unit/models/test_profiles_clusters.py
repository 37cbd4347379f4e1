"""Seeded k-means with k chosen by silhouette."""

import numpy as np

from models.profiles.clusters import ShapeClusters, kmeans, silhouette_score


def blobs(seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[0, 0], [10, 0], [0, 10]])
    sizes = [12, 8, 5]
    x = np.vstack([c + rng.normal(scale=0.5, size=(n, 2)) for c, n in zip(centres, sizes)])
    truth = np.repeat([0, 1, 2], sizes)
    return x, truth


def test_three_blobs_are_found_and_labelled_by_size():
    x, truth = blobs()
    c = ShapeClusters(seed=3).fit(x)
    assert c.k_ == 3
    np.testing.assert_array_equal(c.labels_, truth)  # label 0 = largest cluster
    assert c.silhouettes_[3] == max(c.silhouettes_.values())


def test_same_seed_same_result():
    x, _ = blobs(1)
    a = kmeans(x, 4, seed=7)
    b = kmeans(x, 4, seed=7)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_allclose(a[1], b[1])


def test_tiny_or_identical_inputs_give_one_cluster():
    assert ShapeClusters().fit(np.ones((5, 3))).k_ == 1
    assert ShapeClusters().fit(np.array([[0.0], [1.0]])).k_ == 1


def test_silhouette_sampled_matches_full_on_small_input():
    x, truth = blobs()
    assert silhouette_score(x, truth) == silhouette_score(x, truth, sample_size=10_000)
    assert silhouette_score(x, truth) > 0.8
    assert silhouette_score(x, np.zeros(len(x))) == 0.0
