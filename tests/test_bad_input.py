"""One way to fail (DESIGN.md §3, issue 14): a bad input for every public function and class of every module.

The rule: inputs are checked once, at the public boundary, by the shared checkers of `core`:
`TypeError` for a wrong type or dtype (a bool flag that is not True/False included: never coerced),
`ValueError` for a wrong value or shape, and the message names the argument.

`ROWS` is the table: (public name, call, expected exception type, substring of the message that names the
argument). `test_every_public_name_has_a_row` checks the table against every module's `__all__`.
"""
import functools
import importlib
import inspect
import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

MODULES = ["core", "fetch", "data", "viz", "rate", "gram", "theory", "cluster", "joint", "operators", "vector", "classify", "micl",
           "circulant", "lifting", "scattering", "spectral", "vmcr2", "crate", "distributed", "gaussians", "experiments", "invariance", "finetune", "featurizers", "crate_mnist",
           "learned_features", "reproduce"]
OPTIONAL = {"gram"}          # may not exist yet: its rows and its part of the meta-test are skipped then


def mod(name: str):
    "The module redunet_book.<name>; a skip where an optional module does not exist (yet)."
    try:
        return importlib.import_module(f"redunet_book.{name}")
    except ModuleNotFoundError:
        if name in OPTIONAL:
            pytest.skip(f"redunet_book.{name} does not exist yet")
        raise


# ---------------------------------------------------------------- small valid inputs, built on first use

f64 = dict(dtype=torch.float64)


def Z():
    "(6, 4) features on the sphere, float64."
    return mod("core").normalize(torch.randn(6, 4, generator=torch.Generator().manual_seed(0), **f64))


def y():
    "(6,) labels, two classes."
    return torch.tensor([0, 0, 0, 1, 1, 1])


def Pi():
    "(6, 2) one-hot membership matrix."
    return torch.nn.functional.one_hot(y(), 2).double()


def Z3():
    "(6, 2, 8) multi-channel signals on the sphere."
    return mod("core").normalize(torch.randn(6, 2, 8, generator=torch.Generator().manual_seed(1), **f64))


def V():
    "(6, 5, 2) half spectra of Z3."
    return mod("spectral").to_spectral(Z3())


@functools.cache
def gaussian_run():
    "A tiny Gaussian-mixture run (two layers)."
    g = mod("gaussians")
    return g.run_gaussian_mixture(g.GaussianConfig("s1_two", samples_per_class=5, num_layers=2))


@functools.cache
def factor():
    "A gram.Factor of a (3, 2) batch."
    return mod("gram").factor(torch.randn(3, 2, **f64), 1.0)


def tiny_data():
    "The keys of an invariance data dict, with tensors of 1D signals."
    X = torch.rand(4, 1, 8, generator=torch.Generator().manual_seed(2))
    return dict(X_train=X, y_train=torch.tensor([0, 0, 1, 1]), X_test=X, y_test=torch.tensor([0, 0, 1, 1]), dims=1)


def E(name: str):
    "An attribute of a module, fetched at call time: rows are built without importing optional modules."
    module, attr = name.split(".")
    return getattr(mod(module), attr)


# ---------------------------------------------------------------- the table

def row(name, call, exc, says):
    "One row: `call()` must raise `exc` whose message contains `says` (the argument's name)."
    return pytest.param(name, call, exc, says, id=f"{name}:{says}")


T, V_ = TypeError, ValueError
ROWS = [
    # core
    row("core.check_tensor", lambda: E("core.check_tensor")([1.0], "x"), T, "x"),
    row("core.check_features", lambda: E("core.check_features")([[1.0]]), T, "Z"),
    row("core.check_features", lambda: E("core.check_features")(torch.ones(3), "X"), V_, "X"),
    row("core.check_features", lambda: E("core.check_features")(torch.ones(3, 2, dtype=torch.int64)), T, "Z"),
    row("core.check_dtype", lambda: E("core.check_dtype")(torch.int64), T, "dtype"),
    row("core.check_dtype", lambda: E("core.check_dtype")("float16"), T, "dtype"),
    row("core.check_real", lambda: E("core.check_real")("1.0", "x"), T, "x"),
    row("core.check_real", lambda: E("core.check_real")(math.nan, "x"), V_, "x"),
    row("core.check_positive", lambda: E("core.check_positive")(0, "eta"), V_, "eta"),
    row("core.check_positive", lambda: E("core.check_positive")(True, "eta"), T, "eta"),
    row("core.check_nonnegative", lambda: E("core.check_nonnegative")(-1, "noise"), V_, "noise"),
    row("core.check_nonnegative", lambda: E("core.check_nonnegative")(None, "noise"), T, "noise"),
    row("core.check_int", lambda: E("core.check_int")(2.0, "steps"), T, "steps"),
    row("core.check_int", lambda: E("core.check_int")(True, "steps"), T, "steps"),
    row("core.check_int", lambda: E("core.check_int")(0, "steps"), V_, "steps"),
    row("core.check_eps_sq", lambda: E("core.check_eps_sq")(0.0), V_, "eps_sq"),
    row("core.check_bool", lambda: E("core.check_bool")("no", "flag"), T, "flag"),
    row("core.check_bool", lambda: E("core.check_bool")(1, "flag"), T, "flag"),
    row("core.check_choice", lambda: E("core.check_choice")("tanh", "nonlinearity", ("relu",)), V_, "nonlinearity"),
    row("core.check_choice", lambda: E("core.check_choice")(["relu"], "nonlinearity", ("relu",)), V_, "nonlinearity"),
    row("core.check_labels", lambda: E("core.check_labels")(torch.tensor([0.0, 1.0])), T, "labels"),
    row("core.check_fitted_features", lambda: E("core.check_fitted_features")(Z().numpy(), Z(), "Model"), T, "test_Z"),
    row("core.check_fitted_features", lambda: E("core.check_fitted_features")(Z()[:, :3], Z(), "Model"), V_, "test_Z"),
    row("core.check_labels", lambda: E("core.check_labels")(torch.tensor([True, False])), T, "labels"),
    row("core.check_labels", lambda: E("core.check_labels")(torch.tensor([0, 3]), num_classes=3), V_, "labels"),
    row("core.check_labels", lambda: E("core.check_labels")(torch.tensor([0, 1]), "y", m=3), V_, "y"),
    row("core.check_labels", lambda: E("core.check_labels")([0, 1]), T, "labels"),
    row("core.simplex_tolerance", lambda: E("core.simplex_tolerance")(torch.int64), T, "dtype"),
    row("core.membership_matrix", lambda: E("core.membership_matrix")([0, 1], 2), T, "membership"),
    row("core.membership_matrix", lambda: E("core.membership_matrix")(torch.tensor([0, 1]), 2, dtype=torch.int32), T, "dtype"),
    row("core.membership_matrix", lambda: E("core.membership_matrix")(torch.tensor([0, 1]), 2, num_classes=2.0), T, "num_classes"),
    row("core.normalize", lambda: E("core.normalize")(np.ones((2, 2))), T, "Z"),
    row("core.make_generator", lambda: E("core.make_generator")("0"), T, "seed"),
    row("core.method_of", lambda: E("core.method_of")("ReduNet"), T, "cls"),
    row("core.all_finite", lambda: E("core.all_finite")([1.0, 2.0]), T, "X"),
    row("core.method_of", lambda: E("core.method_of")(object, name=3), T, "name"),
    row("core.make_generator", lambda: E("core.make_generator")(-1), V_, "seed"),
    row("core.seed_everything", lambda: E("core.seed_everything")(1.5), T, "seed"),
    row("core.resolve_device", lambda: E("core.resolve_device")("gpu0"), V_, "device"),
    row("core.resolve_device", lambda: E("core.resolve_device")(3.5), T, "device"),
    row("core.complex_dtype", lambda: E("core.complex_dtype")(torch.int64), T, "dtype"),
    row("core.tolerance", lambda: E("core.tolerance")(torch.float16), T, "dtype"),
    row("core.get_scale", lambda: E("core.get_scale")("huge"), V_, "scale"),
    row("core.by_scale", lambda: E("core.by_scale")(1, 2, scale="huge"), V_, "scale"),

    # fetch (standard library only)
    row("fetch.check_split", lambda: E("fetch.check_split")("validation"), V_, "split"),
    row("fetch.check_dataset", lambda: E("fetch.check_dataset")("cifar10"), V_, "dataset"),
    row("fetch.check_dataset", lambda: E("fetch.check_dataset")(None), T, "dataset"),
    row("fetch.data_folder", lambda: E("fetch.data_folder")(dataset="fashion"), V_, "dataset"),
    row("fetch.verified", lambda: E("fetch.verified")("x.gz", dataset="FASHION"), V_, "dataset"),
    row("fetch.ensure_mnist", lambda: E("fetch.ensure_mnist")(dataset="kmnist"), V_, "dataset"),
    row("fetch.copy_mnist", lambda: E("fetch.copy_mnist")("mirror", dataset=3), T, "dataset"),
    row("fetch.sha256_file", lambda: E("fetch.sha256_file")(123), T, "path"),
    row("fetch.verified", lambda: E("fetch.verified")(None), T, "path"),
    row("fetch.data_folder", lambda: E("fetch.data_folder")(5), T, "root"),
    row("fetch.mnist_folders", lambda: E("fetch.mnist_folders")(5), T, "root"),
    row("fetch.find_file", lambda: E("fetch.find_file")(5, []), T, "name"),
    row("fetch.find_file", lambda: E("fetch.find_file")("x", "folder"), T, "folders"),
    row("fetch.find_mnist", lambda: E("fetch.find_mnist")("validation"), V_, "split"),
    row("fetch.download_mnist", lambda: E("fetch.download_mnist")(split="validation"), V_, "split"),
    row("fetch.download_mnist", lambda: E("fetch.download_mnist")(mirrors="https://mirror.invalid/"), T, "mirrors"),
    row("fetch.download_mnist", lambda: E("fetch.download_mnist")(timeout=0), V_, "timeout"),
    row("fetch.copy_mnist", lambda: E("fetch.copy_mnist")(5), T, "source"),
    row("fetch.ensure_mnist", lambda: E("fetch.ensure_mnist")("validation"), V_, "split"),
    row("fetch.ensure_mnist", lambda: E("fetch.ensure_mnist")(download="yes"), T, "download"),
    row("fetch.program_name", lambda: E("fetch.program_name")(1, "x"), T, "module"),
    row("fetch.main", lambda: E("fetch.main")("--no-download"), T, "argv"),

    # data
    row("data.random_orthonormal_basis", lambda: E("data.random_orthonormal_basis")(3, 4), V_, "d"),
    row("data.random_orthonormal_basis", lambda: E("data.random_orthonormal_basis")(3, 2, dtype=torch.int32), T, "dtype"),
    row("data.subspace_samples", lambda: E("data.subspace_samples")(3, 5, 4), T, "subspace_dims"),
    row("data.subspace_samples", lambda: E("data.subspace_samples")([1, 1], 5, 4, orthogonal="yes"), T, "orthogonal"),
    row("data.subspace_samples", lambda: E("data.subspace_samples")([1, 1], 5, 4, noise=-1.0), V_, "noise"),
    row("data.subspace_samples", lambda: E("data.subspace_samples")([1, 1], 5, 4.0), T, "samples_per_class"),
    row("data.subspace_samples", lambda: E("data.subspace_samples")([1, 1], 5, 4, dtype=torch.float16), T, "dtype"),
    row("data.parse_idx", lambda: E("data.parse_idx")("00000801"), T, "data"),
    row("data.load_mnist", lambda: E("data.load_mnist")(split="validation"), V_, "split"),
    row("data.load_mnist", lambda: E("data.load_mnist")(verify="no"), T, "verify"),
    row("data.balanced_split", lambda: E("data.balanced_split")([0, 1], 1), T, "labels"),
    row("data.balanced_split", lambda: E("data.balanced_split")(torch.tensor([0, 1]), 1.5), T, "train_per_class"),
    row("data.balanced_split", lambda: E("data.balanced_split")(torch.tensor([0, 1]), 1, seed=-1), V_, "seed"),
    row("data.mnist_sets", lambda: E("data.mnist_sets")(2, split="validation"), V_, "split"),
    row("data.mnist_sets", lambda: E("data.mnist_sets")(2, verify=1), T, "verify"),
    row("data.mnist_sets", lambda: E("data.mnist_sets")(2.5), T, "train_per_class"),
    row("data.mnist_sets", lambda: E("data.mnist_sets")(2, num_classes=11), V_, "num_classes"),
    row("data.mnist_sets", lambda: E("data.mnist_sets")(2, num_classes="3"), T, "num_classes"),
    row("data.polar_grid", lambda: E("data.polar_grid")(0, 3, 28, 28), V_, "num_angles"),
    row("data.polar_grid", lambda: E("data.polar_grid")(8, 3, 28, 28, radius="5"), T, "radius"),
    row("data.polar_resample", lambda: E("data.polar_resample")(np.zeros((2, 28, 28)), 8, 3), T, "images"),
    row("data.polar_resample", lambda: E("data.polar_resample")(torch.zeros(2, 28, 28), 8, 3, dtype=torch.int32), T, "dtype"),
    row("data.rotate_images", lambda: E("data.rotate_images")(torch.zeros(2, 28, 28), "90"), T, "degrees"),
    row("data.rotate_images", lambda: E("data.rotate_images")(torch.zeros(28), 90), V_, "images"),
    row("data.cyclic_translations", lambda: E("data.cyclic_translations")([[0]], 7), T, "images"),
    row("data.cyclic_translations", lambda: E("data.cyclic_translations")(torch.zeros(28, 28), 7), V_, "images"),

    # viz
    row("viz.plot_rate_bars", lambda: E("viz.plot_rate_bars")([1.0, 2.0]), T, "values"),
    row("viz.plot_rate_bars", lambda: E("viz.plot_rate_bars")({}), V_, "values"),
    row("viz.plot_rate_curves", lambda: E("viz.plot_rate_curves")([1], [1.0], "x"), T, "curves"),
    row("viz.plot_rate_curves", lambda: E("viz.plot_rate_curves")([1], {"R": [1.0]}, 3), T, "xlabel"),
    row("viz.cosine_similarity_matrix", lambda: E("viz.cosine_similarity_matrix")(np.ones((3, 2))), T, "Z"),
    row("viz.cosine_similarity_matrix", lambda: E("viz.cosine_similarity_matrix")(Z(), [0, 1, 0, 1, 0, 1]), T, "labels"),
    row("viz.cosine_similarity_matrix", lambda: E("viz.cosine_similarity_matrix")(torch.ones(3)), V_, "Z"),
    row("viz.plot_cosine_heatmap", lambda: E("viz.plot_cosine_heatmap")(Z(), y().double()), T, "labels"),
    row("viz.plot_cosine_heatmap", lambda: E("viz.plot_cosine_heatmap")(Z(), y(), colorbar="no"), T, "colorbar"),
    row("viz.plot_sphere_features", lambda: E("viz.plot_sphere_features")(Z()[:, :3], [0, 1]), T, "labels"),
    row("viz.plot_directions", lambda: E("viz.plot_directions")(Z()[:, :2], y(), Z()[:, :2], tangent="yes"), T, "tangent"),
    row("viz.plot_feature_paths", lambda: E("viz.plot_feature_paths")(torch.zeros(2, 3), y()), V_, "path"),
    row("viz.plot_gaussian_run", lambda: E("viz.plot_gaussian_run")(None), T, "run"),
    row("viz.plot_gaussian_run", lambda: E("viz.plot_gaussian_run")(gaussian_run(), 1.5), T, "layer"),
    row("viz.plot_invariance", lambda: E("viz.plot_invariance")([]), T, "result"),
    row("viz.plot_invariance", lambda: E("viz.plot_invariance")({"rows": []}), V_, "result"),
    row("viz.plot_neighbours", lambda: E("viz.plot_neighbours")([]), T, "result"),
    row("viz.plot_kernels", lambda: E("viz.plot_kernels")(np.zeros((2, 2, 4))), T, "kernels"),
    row("viz.plot_kernels", lambda: E("viz.plot_kernels")(torch.zeros(2, 3, 4)), V_, "kernels"),
    row("viz.plot_kernels", lambda: E("viz.plot_kernels")(torch.zeros(2, 2, 4), mask_self="yes"), T, "mask_self"),
    row("viz.figure_controls", lambda: E("viz.figure_controls")(5), T, "draw"),
    row("viz.draw_redunet_layer", lambda: E("viz.draw_redunet_layer")(0), V_, "k"),
    row("viz.draw_redunet_layer", lambda: E("viz.draw_redunet_layer")("3"), T, "k"),
    row("viz.draw_redunet_layer", lambda: E("viz.draw_redunet_layer")(3, analogies="yes"), T, "analogies"),
    row("viz.draw_spectral_pipeline", lambda: E("viz.draw_spectral_pipeline")(channels=5), V_, "channels"),
    row("viz.draw_spectral_pipeline", lambda: E("viz.draw_spectral_pipeline")(length=8.0), T, "length"),
    row("viz.draw_spectral_pipeline", lambda: E("viz.draw_spectral_pipeline")(length=8, shift=8), V_, "shift"),
    row("viz.draw_vmcr2_structure", lambda: E("viz.draw_vmcr2_structure")(k=0), V_, "k"),
    row("viz.draw_vmcr2_structure", lambda: E("viz.draw_vmcr2_structure")(atoms_per_class="2"), T, "atoms_per_class"),

    # rate
    row("rate.logdet_scaled_gram", lambda: E("rate.logdet_scaled_gram")([[1.0]], 1.0), T, "X"),
    row("rate.logdet_scaled_gram", lambda: E("rate.logdet_scaled_gram")(Z(), 1.0, side="both"), V_, "side"),
    row("rate.coding_rate", lambda: E("rate.coding_rate")(Z(), "0.1"), T, "eps_sq"),
    row("rate.coding_rate", lambda: E("rate.coding_rate")(Z().long(), 0.1), T, "Z"),
    row("rate.coding_length", lambda: E("rate.coding_length")(Z(), 0.1, bits="yes"), T, "bits"),
    row("rate.class_slots", lambda: E("rate.class_slots")([[1.0]]), T, "Pi"),
    row("rate.class_samples", lambda: E("rate.class_samples")(Z(), [[1.0]]), T, "Pi"),
    row("rate.class_grams", lambda: E("rate.class_grams")(Z(), [[1.0]]), T, "Pi"),
    row("rate.row_gradients", lambda: E("rate.row_gradients")([[1.0]], None, None, None), T, "Pi"),
    row("rate.rate_coefficients", lambda: E("rate.rate_coefficients")(Z(), [0, 1], 0.1), T, "membership"),
    row("rate.class_coding_rate", lambda: E("rate.class_coding_rate")(Z(), y(), 0.1, reduction="mean"), V_, "reduction"),
    row("rate.rate_terms", lambda: E("rate.rate_terms")(Z(), y().double(), 0.1), T, "membership"),
    row("rate.rate_reduction", lambda: E("rate.rate_reduction")(Z(), y(), 0.1, num_classes=2.0), T, "num_classes"),
    row("rate.rate_reduction", lambda: E("rate.rate_reduction")(Z(), y(), -0.1), V_, "eps_sq"),

    # gram (skipped where the module does not exist yet)
    row("gram.check_alpha", lambda: E("gram.check_alpha")(1.0, torch.int64), T, "dtype"),
    row("gram.factor", lambda: E("gram.factor")([[1.0]], 1.0), T, "X"),
    row("gram.factor", lambda: E("gram.factor")(Z(), 1.0, side="both"), V_, "side"),
    row("gram.factor_matrix", lambda: E("gram.factor_matrix")([[1.0]], 1.0), T, "G"),
    row("gram.traced_logdet", lambda: E("gram.traced_logdet")([[1.0]], torch.tensor(1.0)), T, "G"),
    row("gram.logdet", lambda: E("gram.logdet")(None), T, "f"),
    row("gram.whiten", lambda: E("gram.whiten")(factor(), [[1.0]]), T, "B"),
    row("gram.solve", lambda: E("gram.solve")(None, torch.eye(2, **f64)), T, "f"),
    row("gram.operator", lambda: E("gram.operator")(factor(), lowrank="yes"), T, "lowrank"),
    row("gram.apply_rows", lambda: E("gram.apply_rows")(None), T, "f"),
    row("gram.woodbury_dense", lambda: E("gram.woodbury_dense")([[1.0]], torch.tensor(1.0)), T, "W"),
    row("gram.apply_operator", lambda: E("gram.apply_operator")([[1.0]], torch.tensor(1.0), torch.ones(2, 2)), T, "op"),

    # theory
    row("theory.class_spectra", lambda: E("theory.class_spectra")(Z(), [0, 0, 0, 1, 1, 1]), T, "labels"),
    row("theory.class_ranks", lambda: E("theory.class_ranks")([1.0]), T, "S"),
    row("theory.class_ranks", lambda: E("theory.class_ranks")(torch.ones(2, 3), rtol=0), V_, "rtol"),
    row("theory.max_cross_class_cosine", lambda: E("theory.max_cross_class_cosine")(Z(), y(), rtol="1e-6"), T, "rtol"),
    row("theory.project_class_ranks", lambda: E("theory.project_class_ranks")(Z(), y(), 2), T, "subspace_dims"),
    row("theory.project_class_ranks", lambda: E("theory.project_class_ranks")(Z(), y(), [1]), V_, "labels"),
    row("theory.maximize_rate_reduction", lambda: E("theory.maximize_rate_reduction")(y(), 4, [1, 1], 0.5, steps=-1), V_, "steps"),
    row("theory.maximize_rate_reduction", lambda: E("theory.maximize_rate_reduction")(y().double(), 4, [1, 1], 0.5), T, "labels"),
    row("theory.maximize_rate_reduction", lambda: E("theory.maximize_rate_reduction")(y(), 4, [1, 1], 0.5, dtype=torch.int64), T, "dtype"),
    row("theory.maximize_rate_reduction", lambda: E("theory.maximize_rate_reduction")(y(), 4, [1], 0.5), V_, "subspace_dims"),
    row("theory.theorem_conditions", lambda: E("theory.theorem_conditions")(12, [4.0], [30], 1.0), T, "subspace_dims"),
    row("theory.class_spectrum_objective", lambda: E("theory.class_spectrum_objective")([1.0], 4, 10, 5, 0.1), T, "x"),
    row("theory.optimal_class_spectrum", lambda: E("theory.optimal_class_spectrum")(4, 10, 5, 2, 0.1, grid=1), V_, "grid"),
    row("theory.ole_loss", lambda: E("theory.ole_loss")(Z(), y().double()), T, "labels"),
    row("theory.coding_rate_bounds", lambda: E("theory.coding_rate_bounds")(Z(), y(), 0), V_, "eps_sq"),
    row("theory.simulated_features", lambda: E("theory.simulated_features")(8, "cube", 2, True), V_, "kind"),
    row("theory.simulated_features", lambda: E("theory.simulated_features")(8, "subspace", 2, "yes"), T, "orthogonal"),

    # cluster
    row("cluster.segment_coding_lengths", lambda: E("cluster.segment_coding_lengths")(Z(), y(), 0.1, bits="yes"), T, "bits"),
    row("cluster.membership_length", lambda: E("cluster.membership_length")([1.0, 2.0]), T, "counts"),
    row("cluster.membership_length", lambda: E("cluster.membership_length")(torch.ones(2, 2)), V_, "counts"),
    row("cluster.segmentation_length", lambda: E("cluster.segmentation_length")(Z(), y(), 0.1, affine=1), T, "affine"),
    row("cluster.canonical_labels", lambda: E("cluster.canonical_labels")([0, 1]), T, "labels"),
    row("cluster.matched_accuracy", lambda: E("cluster.matched_accuracy")(y().double(), y()), T, "pred"),
    row("cluster.matched_accuracy", lambda: E("cluster.matched_accuracy")(y(), y()[:-1]), V_, "labels"),
    row("joint.membership_gradient", lambda: E("joint.membership_gradient")(Z(), Pi()[:-1], 0.5), V_, "Pi"),
    row("joint.membership_gradient", lambda: E("joint.membership_gradient")(Z(), Pi().numpy(), 0.5), T, "Pi"),
    row("joint.membership_gradient", lambda: E("joint.membership_gradient")(Z(), -Pi(), 0.5), V_, "Pi"),
    row("joint.joint_ascent", lambda: E("joint.joint_ascent")(Z(), 2, 0.5, 3, move_features="yes"), T, "move_features"),
    row("joint.joint_ascent", lambda: E("joint.joint_ascent")(Z(), 2, 0.5, 3, logits=torch.zeros(2, 2)), V_, "logits"),
    row("joint.joint_ascent", lambda: E("joint.joint_ascent")(Z(), 2, 0.5, -1), V_, "steps"),
    row("cluster.merge_segments", lambda: E("cluster.merge_segments")(Z(), 0.1, init=torch.zeros(6)), T, "init"),
    row("cluster.merge_segments", lambda: E("cluster.merge_segments")(Z(), 0.1, affine="yes"), T, "affine"),
    row("cluster.merge_segments", lambda: E("cluster.merge_segments")(Z() * 1e160, 0.1), V_, "X"),
    row("cluster.literal_merge_segments", lambda: E("cluster.literal_merge_segments")(Z(), 0.1, affine=0), T, "affine"),

    # operators
    row("operators.inverse_scaled_gram", lambda: E("operators.inverse_scaled_gram")([[1.0]], 1.0), T, "X"),
    row("operators.inverse_scaled_gram", lambda: E("operators.inverse_scaled_gram")(Z(), 1.0, side="both"), V_, "side"),
    row("operators.expansion_operator", lambda: E("operators.expansion_operator")(Z(), 0), V_, "eps_sq"),
    row("operators.compression_operators", lambda: E("operators.compression_operators")(Z(), [0, 1], 0.1), T, "membership"),
    row("operators.gradient_operators", lambda: E("operators.gradient_operators")(Z(), y(), "0.1"), T, "eps_sq"),
    row("operators.gradient_terms", lambda: E("operators.gradient_terms")(Z().int(), y(), 0.1), T, "Z"),
    row("operators.rate_reduction_gradient", lambda: E("operators.rate_reduction_gradient")(Z(), y().double(), 0.1), T, "membership"),
    row("operators.gradient_ascent_step", lambda: E("operators.gradient_ascent_step")(Z(), y(), 0.1, eta=0), V_, "eta"),
    row("operators.gradient_ascent", lambda: E("operators.gradient_ascent")(Z(), y(), 0.1, 0.5, steps=2.0), T, "steps"),
    row("operators.gradient_ascent", lambda: E("operators.gradient_ascent")(Z(), y(), 0.1, 0.5, 2, keep_path="yes"), T, "keep_path"),

    # vector
    row("vector.class_responses", lambda: E("vector.class_responses")([[1.0]], torch.eye(4, **f64)[None]), T, "Z"),
    row("vector.soft_membership", lambda: E("vector.soft_membership")([[1.0]], 1.0), T, "responses"),
    row("vector.soft_membership", lambda: E("vector.soft_membership")(torch.ones(6, 2, 4, **f64), "10"), T, "lam"),
    row("vector.softmax_residual", lambda: E("vector.softmax_residual")([[1.0]], torch.ones(2, **f64), Pi()), T, "responses"),
    row("vector.relu_residual", lambda: E("vector.relu_residual")(Z(), [[1.0]], torch.ones(2, **f64), 1.0), T, "responses"),
    row("vector.membership_residual", lambda: E("vector.membership_residual")([[1.0]], torch.eye(4, **f64)[None], torch.ones(1, **f64), Pi()), T, "Z"),
    row("vector.ReduLayer", lambda: E("vector.ReduLayer")(3, 2, 0.5, 10.0, nonlinearity="tanh"), V_, "nonlinearity"),
    row("vector.ResidualBranches", lambda: E("vector.ResidualBranches")(3, 2, 0.0, 10.0), V_, "eta"),
    row("vector.ResidualBranches", lambda: E("vector.ResidualBranches").from_layer(nn.Linear(2, 2)), T, "layer"),
    row("vector.ReduLayer", lambda: E("vector.ReduLayer")(3.0, 2, 0.5, 10.0), T, "n"),
    row("vector.ReduLayer", lambda: E("vector.ReduLayer")(3, 2, 0.5, 10.0, dtype=torch.int32), T, "dtype"),
    row("vector.ReduNet", lambda: E("vector.ReduNet")(2, 0.5, 0.1, 10.0, accelerated="yes"), T, "accelerated"),
    row("vector.LayerwiseNet", lambda: E("vector.LayerwiseNet")(2, 0.5, 0.1, 10.0, train_update="oracle"), V_, "train_update"),
    row("vector.LayerwiseNet", lambda: E("vector.ReduNet")(2, 0.5, 0.1, 10.0).fit(torch.ones(4, 3), torch.arange(4) % 2, progress=1),
        T, "progress"),
    row("vector.ReduNet", lambda: E("vector.ReduNet")(2.0, 0.5, 0.1, 10.0), T, "num_layers"),
    row("vector.ReduNet", lambda: E("vector.ReduNet")(2, 0.5, 0.1, 10.0, train_update="both"), V_, "train_update"),
    row("vector.ReduNet", lambda: E("vector.ReduNet")(2, 0.5, 0.1, 10.0, beta=1.5), V_, "beta"),
    row("vector.check_input_dtype", lambda: E("vector.check_input_dtype")(E("vector.ReduNet")(1, 0.5, 0.1, 10.0), [[1.0]]), T, "Z"),
    row("vector.path_rates", lambda: E("vector.path_rates")([[1.0]], y(), 0.1), T, "path"),
    row("vector.layers_to_reach", lambda: E("vector.layers_to_reach")([[1.0]], 1.0), T, "history"),
    row("vector.layers_to_reach", lambda: E("vector.layers_to_reach")(torch.ones(3, 3), "1"), T, "target"),

    # classify
    row("classify.NearestSubspace", lambda: E("classify.NearestSubspace")("3"), T, "num_components"),
    row("classify.NearestSubspace", lambda: E("classify.NearestSubspace")(3, center="yes"), T, "center"),
    row("classify.nearest_subspace", lambda: E("classify.nearest_subspace")(Z(), y().double(), Z(), 2), T, "train_labels"),
    row("classify.nearest_subspace", lambda: E("classify.nearest_subspace")(Z(), y(), Z()[:, :3], 2), V_, "test_Z"),
    row("scattering.scattering_features", lambda: E("scattering.scattering_features")(torch.rand(28, 28), 2, 4), V_, "images"),
    row("scattering.scattering_features", lambda: E("scattering.scattering_features")(torch.rand(1, 28, 28), 5, 4), V_, "J"),
    row("scattering.scattering_dimension", lambda: E("scattering.scattering_dimension")(2, 4, (28, 28), 3), V_, "max_order"),
    row("scattering.random_filter_features", lambda: E("scattering.random_filter_features")(torch.rand(1, 28, 28), 2, 4.0), T, "L"),
    row("scattering.random_filter_lifting", lambda: E("scattering.random_filter_lifting")(2, 4, 0), V_, "kernel_size"),
    row("micl.CompressionClassifier", lambda: E("micl.CompressionClassifier")("0.5"), T, "eps_sq"),
    row("micl.CompressionClassifier", lambda: E("micl.CompressionClassifier")(0.5, "bits"), V_, "criterion"),
    row("micl.CompressionClassifier", lambda: E("micl.CompressionClassifier")(0.5).fit(Z(), y()).predict(Z()[:, :3]), V_, "test_Z"),
    row("micl.classify_by_compression", lambda: E("micl.classify_by_compression")(Z(), y().double(), Z(), 0.5), T, "train_labels"),
    row("micl.classify_by_compression", lambda: E("micl.classify_by_compression")(Z(), y(), Z(), 0.5, num_classes=1), V_, "num_classes"),
    row("classify.accuracy", lambda: E("classify.accuracy")([0], torch.tensor([0])), T, "pred"),
    row("classify.accuracy", lambda: E("classify.accuracy")(torch.tensor([0]), torch.tensor([0.0])), T, "labels"),

    # circulant
    row("circulant.circ", lambda: E("circulant.circ")([1.0, 2.0]), T, "z"),
    row("circulant.circular_conv", lambda: E("circulant.circular_conv")(torch.ones(4), torch.ones(2), dims=1.0), T, "dims"),
    row("circulant.multichannel_circular_conv",
        lambda: E("circulant.multichannel_circular_conv")(torch.ones(2, 4), torch.ones(3, 2, 2), method="dft"), V_, "method"),
    row("circulant.doubly_block_circulant", lambda: E("circulant.doubly_block_circulant")(torch.ones(3)), V_, "z"),
    row("circulant.multichannel_circ", lambda: E("circulant.multichannel_circ")(torch.ones(2, 4), dims=3), V_, "dims"),
    row("circulant.circulant_family", lambda: E("circulant.circulant_family")(torch.randn(4, 6)), V_, "Z"),
    row("circulant.dft_matrix", lambda: E("circulant.dft_matrix")(0), V_, "size"),
    row("circulant.dft_matrix", lambda: E("circulant.dft_matrix")(4, dtype=torch.int64), T, "dtype"),
    row("circulant.dft", lambda: E("circulant.dft")("abc"), T, "z"),
    row("circulant.idft", lambda: E("circulant.idft")(torch.ones(3), dims=2), V_, "v"),
    row("circulant.circulant_spectrum", lambda: E("circulant.circulant_spectrum")(torch.ones(3, dtype=torch.int64)), T, "z"),

    # lifting
    row("lifting.sparsify", lambda: E("lifting.sparsify")(Z3(), "tanh"), V_, "nonlinearity"),
    row("lifting.sparsify", lambda: E("lifting.sparsify")([1.0]), T, "Z"),
    row("lifting.sparsify", lambda: E("lifting.sparsify")(Z3(), "relu", -0.1), V_, "threshold"),
    row("lifting.Lifting", lambda: E("lifting.Lifting")(4, 3, normalize_output="yes"), T, "normalize_output"),
    row("lifting.Lifting", lambda: E("lifting.Lifting")(4, 3, dtype=torch.float16), T, "dtype"),
    row("lifting.Lifting1d", lambda: E("lifting.Lifting1d")(4, 3.0), T, "kernel_size"),
    row("lifting.Lifting2d", lambda: E("lifting.Lifting2d")(4, (3, 3), normalize_kernels=1), T, "normalize_kernels"),
    row("lifting.sparse_motif_signals", lambda: E("lifting.sparse_motif_signals")(2, 3, 8, normalize_signals="yes"), T, "normalize_signals"),
    row("lifting.sparse_motif_signals", lambda: E("lifting.sparse_motif_signals")(2, 3, "8"), T, "size"),

    # spectral
    row("spectral.check_signals", lambda: E("spectral.check_signals")([[1.0]]), T, "Z"),
    row("spectral.frequency_shape", lambda: E("spectral.frequency_shape")((8,), half="yes"), T, "half"),
    row("spectral.frequency_shape", lambda: E("spectral.frequency_shape")(8), T, "shape"),
    row("spectral.spectral_weights", lambda: E("spectral.spectral_weights")((8,), dtype=torch.int64), T, "dtype"),
    row("spectral.to_spectral", lambda: E("spectral.to_spectral")(Z3(), half=1), T, "half"),
    row("spectral.from_spectral", lambda: E("spectral.from_spectral")([[1.0]], (8,)), T, "V"),
    row("spectral.scaled_inverse", lambda: E("spectral.scaled_inverse")([[1.0]], torch.ones(1)), T, "X"),
    row("spectral.scaled_inverse",
        lambda: E("spectral.scaled_inverse")(torch.ones(5, 6, 2, dtype=torch.complex128), torch.ones(5, **f64), form="sparse"), V_, "form"),
    row("spectral.spectral_class_samples", lambda: E("spectral.spectral_class_samples")([[1.0]], Pi()), T, "V"),
    row("spectral.spectral_operators",
        lambda: E("spectral.spectral_operators")(V(), Pi(), 0.1, E("spectral.spectral_weights")((8,), **f64), 8, form="x"), V_, "form"),
    row("spectral.spectral_operators",
        lambda: E("spectral.spectral_operators")(V(), Pi(), 0.1, E("spectral.spectral_weights")((8,), **f64), 8, operators="yes"), T, "operators"),
    row("spectral.rate_terms_circ", lambda: E("spectral.rate_terms_circ")(Z3(), y(), 0.1, half="yes"), T, "half"),
    row("spectral.rate_reduction_circ", lambda: E("spectral.rate_reduction_circ")(Z3(), y(), 0), V_, "eps_sq"),
    row("spectral.SpectralReduLayer", lambda: E("spectral.SpectralReduLayer")((8,), 2, 2, 0.5, 10.0, half="yes"), T, "half"),
    row("spectral.SpectralReduNet", lambda: E("spectral.SpectralReduNet")(2, 0.5, 0.1, 10.0, half=1), T, "half"),
    row("spectral.SpectralReduNet", lambda: E("spectral.SpectralReduNet")(2, 0.5, 0.1, 10.0, form="sparse"), V_, "form"),
    row("spectral.invariant_nearest_subspace",
        lambda: E("spectral.invariant_nearest_subspace")(Z3(), y().double(), Z3(), 2), T, "train_labels"),
    row("spectral.invariant_nearest_subspace",
        lambda: E("spectral.invariant_nearest_subspace")(Z3(), y(), Z3(), 2, chunk=0), V_, "chunk"),

    # vmcr2
    row("vmcr2.psd_factor", lambda: E("vmcr2.psd_factor")([[1.0]]), T, "M"),
    row("vmcr2.variational_value", lambda: E("vmcr2.variational_value")([[1.0]], 1.0), T, "U"),
    row("vmcr2.random_factor", lambda: E("vmcr2.random_factor")([[1.0]], 2), T, "M"),
    row("vmcr2.random_factor", lambda: E("vmcr2.random_factor")(torch.eye(3, **f64), 2.0), T, "num_columns"),
    row("vmcr2.vmcr2_terms",
        lambda: E("vmcr2.vmcr2_terms")(Z(), y(), torch.eye(4, 4, **f64), torch.ones(4, 2, **f64), 0.1, mu=-1.0), V_, "mu"),
    row("vmcr2.latch", lambda: E("vmcr2.latch")(Z(), y(), 2.0), T, "atoms_per_class"),
    row("vmcr2.vmcr2_gradients",
        lambda: E("vmcr2.vmcr2_gradients")(Z(), [0, 0, 0, 1, 1, 1], torch.eye(4, **f64), torch.ones(4, 2, **f64), 0.1), T, "membership"),
    row("vmcr2.lipschitz_bounds", lambda: E("vmcr2.lipschitz_bounds")(Z(), y(), [[1.0]], torch.ones(4, 2, **f64)), T, "Gamma"),
    row("vmcr2.proximal_step",
        lambda: E("vmcr2.proximal_step")(Z(), y(), torch.eye(4, **f64), torch.ones(4, 2, **f64), 0.1, nu_gamma=0.0), V_, "nu_gamma"),
    row("vmcr2.VariationalMCR2", lambda: E("vmcr2.VariationalMCR2")(2.5), T, "num_classes"),

    # gaussians
    row("gaussians.mixture_centers", lambda: E("gaussians.mixture_centers")("s3_two"), V_, "mixture"),
    row("gaussians.mixture_centers", lambda: E("gaussians.mixture_centers")("s1_two", dtype=torch.int64), T, "dtype"),
    row("gaussians.sphere_gaussian_mixture", lambda: E("gaussians.sphere_gaussian_mixture")([[1.0, 0.0]], 5, 0.1), T, "centers"),
    row("gaussians.sphere_gaussian_mixture",
        lambda: E("gaussians.sphere_gaussian_mixture")(torch.eye(2), 0, 0.1), V_, "samples_per_class"),
    row("gaussians.GaussianConfig", lambda: E("gaussians.GaussianConfig")(samples_per_class=0), V_, "samples_per_class"),
    row("gaussians.GaussianConfig", lambda: E("gaussians.GaussianConfig")(sigma="0.1"), T, "sigma"),
    row("gaussians.GaussianConfig", lambda: E("gaussians.GaussianConfig")("s4_two"), V_, "mixture"),
    row("gaussians.run_gaussian_mixture", lambda: E("gaussians.run_gaussian_mixture")("s1_two"), T, "config"),
    row("gaussians.run_gaussian_mixture",
        lambda: E("gaussians.run_gaussian_mixture")(E("gaussians.GaussianConfig")(), progress="yes"), T, "progress"),
    row("gaussians.leading_directions", lambda: E("gaussians.leading_directions")(Z(), [0, 0, 0, 1, 1, 1]), T, "labels"),
    row("gaussians.direction_cosines", lambda: E("gaussians.direction_cosines")(Z(), y().double()), T, "labels"),
    row("gaussians.max_offdiagonal", lambda: E("gaussians.max_offdiagonal")([[1.0]]), T, "M"),
    row("gaussians.max_offdiagonal", lambda: E("gaussians.max_offdiagonal")(torch.ones(2, 3)), V_, "M"),
    row("gaussians.cluster_accuracy", lambda: E("gaussians.cluster_accuracy")(None), T, "run"),
    row("gaussians.gaussian_summary", lambda: E("gaussians.gaussian_summary")({}), T, "run"),
    row("gaussians.gaussian_record", lambda: E("gaussians.gaussian_record")(None), T, "run"),
    row("gaussians.gaussian_record", lambda: E("gaussians.gaussian_record")(gaussian_run(), curve_points=1), V_, "curve_points"),
    row("gaussians.gaussian_record", lambda: E("gaussians.gaussian_record")(gaussian_run(), keep_per_class=2.0), T, "keep_per_class"),

    # experiments
    row("experiments.fits_annotation", lambda: E("experiments.fits_annotation")(1, "int"), T, "hint"),
    row("experiments.annotation_name", lambda: E("experiments.annotation_name")(5), T, "hint"),
    row("experiments.ExperimentConfig", lambda: E("experiments.Table18Config")(num_layers="5"), T, "num_layers"),
    row("experiments.ExperimentConfig", lambda: E("experiments.Table18Config")(dtype="float16"), T, "dtype"),
    row("experiments.ExperimentConfig", lambda: E("experiments.Table18Config").from_record([("seed", 1)]), T, "config"),
    row("experiments.ExperimentConfig", lambda: E("experiments.Table18Config").from_record({"layers": 3}), V_, "layers"),
    row("experiments.MNISTConfig", lambda: E("experiments.MNISTConfig")(num_classes=11), V_, "num_classes"),
    row("experiments.MNISTConfig", lambda: E("experiments.MNISTConfig")(num_classes=3.0), T, "num_classes"),
    row("experiments.MNISTConfig", lambda: E("experiments.MNISTConfig")(dtype=torch.int64), T, "dtype"),
    row("experiments.register_experiment",
        lambda: E("experiments.register_experiment")(5, E("experiments.Table18Config"), "t", "p"), T, "name"),
    row("experiments.register_experiment", lambda: E("experiments.register_experiment")("x", dict, "t", "p"), T, "config_class"),
    row("experiments.get_experiment", lambda: E("experiments.get_experiment")(5), T, "name"),
    row("experiments.get_experiment", lambda: E("experiments.get_experiment")("table99"), V_, "name"),
    row("experiments.run_experiment", lambda: E("experiments.run_experiment")("table18", scale="huge"), V_, "scale"),
    row("experiments.Table18Config", lambda: E("experiments.Table18Config")(center="no"), T, "center"),
    row("experiments.Table18Config", lambda: E("experiments.Table18Config")(split="validation"), V_, "split"),
    row("experiments.mnist_vectors", lambda: E("experiments.mnist_vectors")("table18"), T, "config"),
    row("experiments.nearest_subspace_accuracy", lambda: E("experiments.nearest_subspace_accuracy")(Z(), y(), Z(), y(), {}), T, "config"),
    row("experiments.table18_cell", lambda: E("experiments.table18_cell")([], 0.1, 0.1, E("experiments.Table18Config")()), T, "d"),
    row("experiments.table18_cell", lambda: E("experiments.table18_cell")({}, 0.1, 0.1, E("experiments.Table18Config")()), V_, "d"),
    row("experiments.linear_svm", lambda: E("experiments.linear_svm")(Z(), y(), Z(), y(), None), T, "config"),
    row("experiments.run_table18", lambda: E("experiments.run_table18")(None), T, "config"),
    row("experiments.GaussianFiguresConfig", lambda: E("experiments.GaussianFiguresConfig")(mixtures="s3_two"), V_, "mixtures"),
    row("experiments.GaussianFiguresConfig", lambda: E("experiments.GaussianFiguresConfig")(num_layers=(1, 2)), V_, "num_layers"),
    row("experiments.GaussianFiguresConfig", lambda: E("experiments.GaussianFiguresConfig")(num_layers=(2.5,)), T, "num_layers"),
    row("experiments.GaussianFiguresConfig", lambda: E("experiments.GaussianFiguresConfig")(sigma="0.1"), T, "sigma"),
    row("experiments.GaussianFiguresConfig", lambda: E("experiments.GaussianFiguresConfig")().mixture_config("s4_two"), V_, "mixture"),
    row("experiments.run_gaussian_figures", lambda: E("experiments.run_gaussian_figures")(None), T, "config"),
    row("experiments.MICLConfig", lambda: E("experiments.MICLConfig")(validation_per_class=30), V_, "validation_per_class"),
    row("experiments.MICLConfig", lambda: E("experiments.MICLConfig")(subspace_noise="0.1"), T, "subspace_noise"),
    row("experiments.subspace_rows", lambda: E("experiments.subspace_rows")(None), T, "config"),
    row("experiments.compare_on", lambda: E("experiments.compare_on")(Z(), y(), Z(), y(), Z(), y(), None), T, "config"),
    row("experiments.run_micl", lambda: E("experiments.run_micl")(None), T, "config"),
    row("experiments.JointDynamicsConfig", lambda: E("experiments.JointDynamicsConfig")(setups="planes,cubes"), V_, "setups"),
    row("experiments.JointDynamicsConfig", lambda: E("experiments.JointDynamicsConfig")(draws=2.0), T, "draws"),
    row("experiments.joint_setting", lambda: E("experiments.joint_setting")(None, "lines", 0.1), T, "config"),
    row("experiments.joint_setting",
        lambda: E("experiments.joint_setting")(E("experiments.JointDynamicsConfig")(), "cubes", 0.1), V_, "setup"),
    row("experiments.run_joint_dynamics", lambda: E("experiments.run_joint_dynamics")(None), T, "config"),
    row("experiments.ScatteringConfig", lambda: E("experiments.ScatteringConfig")(scales=(3,), angles=(4, 8), layers=(5,)), V_, "scales"),
    row("experiments.ScatteringConfig", lambda: E("experiments.ScatteringConfig")(layers=(5, 5, 5, 5, 5, 5.5)), T, "layers"),
    row("experiments.scattering_setting",
        lambda: E("experiments.scattering_setting")(torch.rand(2, 28, 28), y()[:2], torch.rand(2, 28, 28), y()[:2], 3, 4, 1, None),
        T, "config"),
    row("experiments.run_scattering", lambda: E("experiments.run_scattering")(None), T, "config"),

    # invariance
    row("invariance.InvarianceConfig", lambda: E("invariance.InvarianceConfig")(stride="8"), T, "stride"),
    row("invariance.RotationConfig", lambda: E("invariance.RotationConfig")(num_angles=2.5), T, "num_angles"),
    row("invariance.TranslationConfig", lambda: E("invariance.TranslationConfig")(split="validation"), V_, "split"),
    row("invariance.invariance_data", lambda: E("invariance.invariance_data")(E("experiments.Table18Config")()), T, "config"),
    row("invariance.all_shifts", lambda: E("invariance.all_shifts")([[1.0]], 1), T, "X"),
    row("invariance.all_shifts", lambda: E("invariance.all_shifts")(torch.zeros(2, 3), 1), V_, "X"),
    row("invariance.invariant_network", lambda: E("invariance.invariant_network")([], 4, E("invariance.InvarianceConfig")()), T, "d"),
    row("invariance.invariant_network", lambda: E("invariance.invariant_network")({}, 4, E("invariance.InvarianceConfig")()), V_, "d"),
    row("invariance.shifted_features", lambda: E("invariance.shifted_features")(None, None, Z3(), 1), T, "lift"),
    row("invariance.shifted_features",
        lambda: E("invariance.shifted_features")(nn.Identity(), nn.Identity(), Z3(), 1, batch_size=0), V_, "batch_size"),
    row("invariance.shifted_by_equivariance",
        lambda: E("invariance.shifted_by_equivariance")(None, nn.Identity(), Z3(), 1, torch.arange(1)), T, "lift"),
    row("invariance.shifted_by_equivariance",
        lambda: E("invariance.shifted_by_equivariance")(nn.Identity(), nn.Identity(), Z3(), 1, torch.arange(1), batch_size=0),
        V_, "batch_size"),
    row("invariance.cross_class_cosines", lambda: E("invariance.cross_class_cosines")(Z(), [0] * 6, Z(), y()), T, "ya"),
    row("invariance.cosine_histogram", lambda: E("invariance.cosine_histogram")(torch.rand(5), 2.5), T, "bins"),
    row("invariance.cosine_histogram", lambda: E("invariance.cosine_histogram")([0.5], 2), T, "values"),
    row("invariance.best_shift_accuracy", lambda: E("invariance.best_shift_accuracy")(Z(), y(), Z(), y(), 2), V_, "Zs"),
    row("invariance.ns_accuracy", lambda: E("invariance.ns_accuracy")(Z(), y(), [], 2), T, "pairs"),
    row("invariance.invariance_row",
        lambda: E("invariance.invariance_row")(tiny_data(), 4, E("invariance.InvarianceConfig")(), keep="yes"), T, "keep"),
    row("invariance.plain_comparison", lambda: E("invariance.plain_comparison")({}, E("invariance.InvarianceConfig")()), V_, "d"),
    row("invariance.run_invariance", lambda: E("invariance.run_invariance")(E("invariance.RotationConfig")(), keep="yes"), T, "keep"),
    row("invariance.EquivarianceConfig", lambda: E("invariance.EquivarianceConfig")(top=0.5), T, "top"),
    row("invariance.canonical_shifts", lambda: E("invariance.canonical_shifts")(torch.zeros(2, 3), 1), V_, "X"),
    row("invariance.top_neighbours", lambda: E("invariance.top_neighbours")(Z(), Z(), 100), V_, "top"),
    row("invariance.top_neighbours", lambda: E("invariance.top_neighbours")([[1.0]], Z(), 1), T, "Q"),
    row("invariance.run_equivariance", lambda: E("invariance.run_equivariance")(E("invariance.RotationConfig")()), T, "config"),
    row("invariance.run_rotation", lambda: E("invariance.run_rotation")(E("invariance.TranslationConfig")()), T, "config"),
    row("invariance.run_translation", lambda: E("invariance.run_translation")(E("invariance.RotationConfig")()), T, "config"),
    row("invariance.run_slides_rotation", lambda: E("invariance.run_slides_rotation")(E("invariance.RotationConfig")()), T, "config"),
    row("invariance.run_slides_translation", lambda: E("invariance.run_slides_translation")(E("invariance.SlidesRotationConfig")()),
        T, "config"),
    row("invariance.run_slides", lambda: E("invariance.run_slides")(E("invariance.RotationConfig")()), T, "config"),
    row("invariance.run_slides", lambda: E("invariance.run_slides")(E("invariance.SlidesRotationConfig")(checkpoints=(-1,))), V_,
        "checkpoints"),
    row("invariance.slides_draw", lambda: E("invariance.slides_draw")("config"), T, "config"),
    row("invariance.SlidesRotationConfig", lambda: E("invariance.SlidesRotationConfig")(num_layers="3"), T, "num_layers"),
    row("invariance.SlidesTranslationConfig", lambda: E("invariance.SlidesTranslationConfig")(num_classes=11), V_, "num_classes"),
    row("invariance.lifting", lambda: E("invariance.lifting")({"X_train": Z()}, 4, E("invariance.RotationConfig")()), V_, "d"),
    row("invariance.lifting", lambda: E("invariance.lifting")({}, 4, None), V_, "d"),
    row("invariance.cosine_heatmap", lambda: E("invariance.cosine_heatmap")(Z(), y()[:-1], 4), V_, "y"),
    row("invariance.cosine_heatmap", lambda: E("invariance.cosine_heatmap")(Z(), y(), 0), V_, "size"),

    # finetune
    row("finetune.learnable_layers", lambda: E("finetune.learnable_layers")(E("vector.ReduNet")(1, 0.5, 0.1, 10.0)), T, "net"),
    row("finetune.learnable_layers",
        lambda: E("finetune.learnable_layers")(E("spectral.SpectralReduNet")(1, 0.5, 0.1, 10.0), random="yes"), T, "random"),
    row("finetune.ReduNetBP", lambda: E("finetune.ReduNetBP")(None, nn.ModuleList(), 3), T, "lift"),
    row("finetune.ReduNetBP", lambda: E("finetune.ReduNetBP")(nn.Identity(), nn.ModuleList(), 3), V_, "layers"),
    row("finetune.predict_in_batches", lambda: E("finetune.predict_in_batches")(None, torch.zeros(2, 4)), T, "model"),
    row("finetune.predict_in_batches", lambda: E("finetune.predict_in_batches")(nn.Identity(), torch.zeros(2, 4), 0), V_, "batch_size"),
    row("finetune.train_bp", lambda: E("finetune.train_bp")(None, Z(), y(), Z(), y(), 1, 0.1), T, "model"),
    row("finetune.train_bp", lambda: E("finetune.train_bp")(nn.Identity(), Z(), y().double(), Z(), y(), 1, 0.1), T, "y"),
    row("finetune.train_bp", lambda: E("finetune.train_bp")(nn.Linear(4, 2), Z(), y(), Z(), y(), 1, 0.1, momentum=-1), V_, "momentum"),
    row("finetune.train_bp", lambda: E("finetune.train_bp")(nn.Linear(4, 2), Z(), y(), Z(), y(), 1, 0.1, track_train="no"), T,
        "track_train"),
    row("finetune.train_bp", lambda: E("finetune.train_bp")(nn.Linear(4, 2), Z(), y(), Z(), y(), 1, 0.1, micro_batch=0), V_,
        "micro_batch"),
    row("finetune.select_lr", lambda: E("finetune.select_lr")(None, Z(), y(), Z(), y(), (0.1,), 1), T, "make_model"),
    row("finetune.select_lr", lambda: E("finetune.select_lr")(nn.Linear(4, 2), Z(), y(), Z(), y(), (0.1,), 1), T, "make_model"),
    row("finetune.select_lr", lambda: E("finetune.select_lr")(lambda: nn.Linear(4, 2), Z(), y(), Z(), y(), (), 1), V_, "lr_grid"),
    row("finetune.select_lr", lambda: E("finetune.select_lr")(lambda: nn.Linear(4, 2), Z(), y(), Z(), y(), 0.1, 1), T, "lr_grid"),
    row("finetune.select_lr", lambda: E("finetune.select_lr")(lambda: nn.Linear(4, 2), Z(), y(), Z(), y(), (0.1,), 0), V_, "epochs"),
    row("finetune.Table2Config", lambda: E("finetune.Table2Config")(lr="0.05"), T, "lr"),
    row("finetune.Table2Config", lambda: E("finetune.Table2Config")(lr=None, lr_grid="0.1", validation_per_class=2), T, "lr_grid"),
    row("finetune.Table2Config", lambda: E("finetune.Table2Config")(lr_grid=(0.1,), validation_per_class=2), V_, "lr_grid"),
    row("finetune.Table2Config", lambda: E("finetune.Table2Config")(lr=None, lr_grid=(0.1, -1.0), validation_per_class=2), V_,
        "lr_grid"),
    row("finetune.Table2Config", lambda: E("finetune.Table2Config")(lr=None, lr_grid=(0.1,)), V_, "validation_per_class"),
    row("finetune.Table2Config", lambda: E("finetune.Table2Config")(validation_per_class=-1), V_, "validation_per_class"),
    row("finetune.Table2Config", lambda: E("finetune.Table2Config")(validation_per_class=11), V_, "validation_per_class"),
    row("finetune.Table2Config", lambda: E("finetune.Table2Config")(selection_epochs=0), V_, "selection_epochs"),
    row("finetune.Table2Config", lambda: E("finetune.Table2Config")(micro_batch=0), V_, "micro_batch"),
    row("finetune.Table2Config", lambda: E("finetune.Table2Config")(micro_batch=2.5), T, "micro_batch"),
    row("finetune.table2_data", lambda: E("finetune.table2_data")("table2"), T, "config"),
    row("finetune.run_table2", lambda: E("finetune.run_table2")(E("experiments.Table18Config")()), T, "config"),
    row("finetune.run_table2", lambda: E("finetune.run_table2")(E("finetune.Table2Config")(), keep="yes"), T, "keep"),

    # distributed (no process group in this process: the one-process path, the same checks)
    row("distributed.group_size", lambda: E("distributed.group_size")("world"), T, "group"),
    row("distributed.sum_over_ranks", lambda: E("distributed.sum_over_ranks")([1.0]), T, "x"),
    row("distributed.class_statistics", lambda: E("distributed.class_statistics")(Z().numpy(), y()), T, "Z_local"),
    row("distributed.rate_terms", lambda: E("distributed.rate_terms")(Z(), y(), 0.0), V_, "eps_sq"),
    row("distributed.rate_reduction", lambda: E("distributed.rate_reduction")(Z()[:, None], y(), 0.5), V_, "Z_local"),
    row("distributed.rate_reduction", lambda: E("distributed.rate_reduction")(Z(), y(), 0.5, group="world"), T, "group"),
    row("distributed.class_coding_rate", lambda: E("distributed.class_coding_rate")(Z(), y()[:-1], 0.5), V_, "membership"),
    row("distributed.coding_rate", lambda: E("distributed.coding_rate")(Z().int(), 0.5), T, "Z_local"),
    row("distributed.vmcr2_terms",
        lambda: E("distributed.vmcr2_terms")(Z(), y(), torch.ones(3, 2, **f64), torch.ones(2, 2, **f64), 0.5), V_, "Gamma"),
    row("distributed.fit", lambda: E("distributed.fit")("ReduNet", Z(), y()), T, "net"),
    row("distributed.fit", lambda: E("distributed.fit")(E("vector.ReduNet")(1, 0.5, 0.5, 1.0), Z(), y(), progress=1), T, "progress"),
    row("distributed.launch", lambda: E("distributed.launch")(E("distributed.ddp_example"), 0), V_, "world_size"),
    row("distributed.launch", lambda: E("distributed.launch")("worker"), T, "worker"),
    row("distributed.launch", lambda: E("distributed.launch")(E("distributed.ddp_example"), 2, timeout=0), V_, "timeout"),
    row("distributed.ddp_example", lambda: E("distributed.ddp_example")(0, 2, steps=0), V_, "steps"),
    row("distributed.single_process_example", lambda: E("distributed.single_process_example")(lr=0), V_, "lr"),
    row("distributed.example_data", lambda: E("distributed.example_data")(m=2), V_, "m"),
    row("distributed.sharded_example", lambda: E("distributed.sharded_example")(0, 1, m=2.5), T, "m"),
    row("distributed.example_gaps", lambda: E("distributed.example_gaps")([], {}), T, "runs"),
    row("distributed.main", lambda: E("distributed.main")("--steps"), T, "argv"),

    # reproduce
    row("featurizers.Normalize", lambda: E("featurizers.Normalize")()([[1.0]]), T, "x"),
    row("featurizers.mnist_featurizer", lambda: E("featurizers.mnist_featurizer")(d=0), V_, "d"),
    row("featurizers.mnist_featurizer", lambda: E("featurizers.mnist_featurizer")(in_size=32.0), T, "in_size"),
    row("featurizers.train_featurizer",
        lambda: E("featurizers.train_featurizer")(nn.Flatten(), torch.zeros(6, 4), y(), "sgd", 2, 1), V_, "method"),
    row("featurizers.train_featurizer",
        lambda: E("featurizers.train_featurizer")(nn.Flatten(), torch.zeros(6, 4), y(), "ce", 2, 1, optimizer="lbfgs"), V_, "optimizer"),
    row("featurizers.train_featurizer",
        lambda: E("featurizers.train_featurizer")(nn.Flatten(), torch.zeros(6, 4), y().double(), "ce", 2, 1), T, "labels"),
    row("featurizers.features_of", lambda: E("featurizers.features_of")(None, torch.zeros(6, 4)), T, "featurizer"),
    row("featurizers.features_of", lambda: E("featurizers.features_of")(nn.Flatten(), torch.zeros(6, 4), batch_size=0), V_, "batch_size"),
    row("featurizers.evaluate_featurizer",
        lambda: E("featurizers.evaluate_featurizer")(None, torch.zeros(6, 4), y(), torch.zeros(6, 4), y(), 2), T, "featurizer"),
    row("featurizers.MNISTComparisonConfig", lambda: E("featurizers.MNISTComparisonConfig")(optimizer="adamw"), V_, "optimizer"),
    row("featurizers.MNISTComparisonConfig", lambda: E("featurizers.MNISTComparisonConfig")(steps=2.5), T, "steps"),
    row("featurizers.MNISTComparisonConfig", lambda: E("featurizers.MNISTComparisonConfig")(split="train"), V_, "split"),
    row("featurizers.mnist_tensors", lambda: E("featurizers.mnist_tensors")({}), T, "config"),
    row("featurizers.compare_on_mnist", lambda: E("featurizers.compare_on_mnist")(E("experiments.MNISTConfig")()), T, "config"),
    row("featurizers.fit_featurizer", lambda: E("featurizers.fit_featurizer")(E("experiments.MNISTConfig")(), "ce", None, None), T, "config"),
    row("featurizers.fit_featurizer",
        lambda: E("featurizers.fit_featurizer")(E("featurizers.MNISTComparisonConfig")(), "svm", torch.zeros(4, 1, 16, 16), y()), V_, "method"),
    row("featurizers.fit_featurizer",
        lambda: E("featurizers.fit_featurizer")(E("featurizers.MNISTComparisonConfig")(), "ce", torch.zeros(4, 1, 16, 16), y(), eps_sq=0),
        V_, "eps_sq"),
    row("learned_features.corrupt_labels", lambda: E("learned_features.corrupt_labels")(y(), 1.2, 2), V_, "ratio"),
    row("learned_features.corrupt_labels", lambda: E("learned_features.corrupt_labels")(y().double(), 0.2, 2), T, "labels"),
    row("learned_features.corrupt_labels", lambda: E("learned_features.corrupt_labels")(y(), 0.2, 2, seed=-1), V_, "seed"),
    row("learned_features.class_spectra", lambda: E("learned_features.class_spectra")(torch.zeros(6), y()), V_, "Z"),
    row("learned_features.class_spectra", lambda: E("learned_features.class_spectra")(torch.zeros(6, 3), y()[:5]), V_, "labels"),
    row("learned_features.effective_rank", lambda: E("learned_features.effective_rank")(torch.tensor([1.0, -2.0])), V_, "singular_values"),
    row("learned_features.effective_rank", lambda: E("learned_features.effective_rank")([1.0, 2.0]), T, "singular_values"),
    row("learned_features.class_bases", lambda: E("learned_features.class_bases")(torch.zeros(6, 3), y(), 0), V_, "components"),
    row("learned_features.class_bases", lambda: E("learned_features.class_bases")(torch.zeros(6, 3), y(), 5), V_, "components"),
    row("learned_features.feature_geometry", lambda: E("learned_features.feature_geometry")(torch.zeros(6, 3), y(), eps_sq=-1), V_, "eps_sq"),
    row("learned_features.feature_geometry",
        lambda: E("learned_features.feature_geometry")(torch.full((6, 3), float("nan")), y()), V_, "Z"),
    row("learned_features.principal_images",
        lambda: E("learned_features.principal_images")(torch.randn(6, 3), y(), 1, per_component=9), V_, "per_component"),
    row("learned_features.principal_images", lambda: E("learned_features.principal_images")(torch.randn(6, 3), y(), 1.5), T, "components"),
    row("learned_features.FeatureGeometryConfig", lambda: E("learned_features.FeatureGeometryConfig")(components=0.5), T, "components"),
    row("learned_features.FeatureGeometryConfig", lambda: E("learned_features.FeatureGeometryConfig")(dataset="cifar10"), V_, "dataset"),
    row("learned_features.run_feature_geometry",
        lambda: E("learned_features.run_feature_geometry")(E("featurizers.MNISTComparisonConfig")()), T, "config"),
    row("learned_features.LabelNoiseConfig", lambda: E("learned_features.LabelNoiseConfig")(noise_ratios=(0.5, 2.0)), V_, "noise_ratios"),
    row("learned_features.LabelNoiseConfig", lambda: E("learned_features.LabelNoiseConfig")(noise_ratios=0.5), T, "noise_ratios"),
    row("learned_features.LabelNoiseConfig", lambda: E("learned_features.LabelNoiseConfig")(eps_sq_study=(0.0,)), V_, "eps_sq"),
    row("learned_features.label_noise_cell",
        lambda: E("learned_features.label_noise_cell")(E("featurizers.MNISTComparisonConfig")(), {}, 0.1, "ce", 0.5), T, "config"),
    row("learned_features.run_label_noise",
        lambda: E("learned_features.run_label_noise")(E("learned_features.FeatureGeometryConfig")()), T, "config"),
    row("featurizers.run_vmcr2_mnist", lambda: E("featurizers.run_vmcr2_mnist")(E("experiments.Table18Config")()), T, "config"),
    row("featurizers.comparison_from_record", lambda: E("featurizers.comparison_from_record")([]), T, "record"),
    row("featurizers.comparison_from_record", lambda: E("featurizers.comparison_from_record")({"config": {}}), V_, "record"),
    # crate
    row("crate.subspace_coding_rate", lambda: E("crate.subspace_coding_rate")(Z(), torch.randn(2, 3, 2, **f64), 0.5), V_, "U"),
    row("crate.subspace_coding_rate", lambda: E("crate.subspace_coding_rate")(Z(), torch.randn(2, 4, 2), 0.5), T, "U"),
    row("crate.subspace_coding_rate", lambda: E("crate.subspace_coding_rate")(Z(), torch.randn(2, 4, 2, **f64), 0.0), V_, "eps_sq"),
    row("crate.sparse_rate_reduction", lambda: E("crate.sparse_rate_reduction")(Z(), torch.randn(2, 4, 2, **f64), 0.5, -1.0), V_, "lam"),
    row("crate.subspace_rate_gradient", lambda: E("crate.subspace_rate_gradient")(Z()[0], torch.randn(2, 4, 2, **f64), 0.5), V_, "Z"),
    row("crate.first_order_gradient", lambda: E("crate.first_order_gradient")(Z().numpy(), torch.randn(2, 4, 2, **f64), 0.5), T, "Z"),
    row("crate.first_order_scale", lambda: E("crate.first_order_scale")(Z(), torch.randn(4, 2, **f64), 0.5), V_, "U"),
    row("crate.subspace_attention", lambda: E("crate.subspace_attention")(Z(), torch.randn(2, 4, 2, **f64), scale=0.0), V_, "scale"),
    row("crate.mssa", lambda: E("crate.mssa")(Z(), torch.randn(2, 4, 2, **f64), 0.5, scale=-1.0), V_, "scale"),
    row("crate.compression_step", lambda: E("crate.compression_step")(Z(), torch.randn(2, 4, 2, **f64), 0.0, 0.5), V_, "kappa"),
    row("crate.ista_step", lambda: E("crate.ista_step")(Z(), torch.randn(4, 3, **f64)), V_, "D"),
    row("crate.ista_step", lambda: E("crate.ista_step")(Z(), torch.eye(4, **f64), eta=0.0), V_, "eta"),
    row("crate.ista_step", lambda: E("crate.ista_step")(Z()[:, :3], torch.randn(4, 3, **f64)), V_, "X"),
    row("crate.lasso_objective", lambda: E("crate.lasso_objective")(Z(), torch.eye(4, **f64), -0.1), V_, "lam"),
    row("crate.MSSA", lambda: E("crate.MSSA")(8, 0, 4), V_, "heads"),
    row("crate.MSSA", lambda: E("crate.MSSA")(8, 2, 4, tied=1), T, "tied"),
    row("crate.ISTA", lambda: E("crate.ISTA")(8, eta=0.0), V_, "eta"),
    row("crate.CRATELayer", lambda: E("crate.CRATELayer")(8, 2, 4, lam=-1.0), V_, "lam"),
    row("crate.PatchEmbedding", lambda: E("crate.PatchEmbedding")(28, 5, 1, 16), V_, "patch_size"),
    row("crate.CRATE", lambda: E("crate.CRATE")(28, 7, 1, 10, 16, 2.5, 2), T, "depth"),
    row("crate.CRATE", lambda: E("crate.CRATE")(8, 4, 1, 3, 8, 1, 2)(torch.zeros(2, 1, 6, 6)), V_, "images"),
    row("crate.CRATE", lambda: E("crate.CRATE")(8, 4, 1, 3, 8, 1, 2)(torch.zeros(2, 1, 8, 8, **f64)), T, "images"),
    # crate_mnist
    row("crate_mnist.ViT", lambda: E("crate_mnist.ViT")(28, 7, 1, 10, 10, 2, 4), V_, "heads"),
    row("crate_mnist.ViT", lambda: E("crate_mnist.ViT")(8, 4, 1, 3, 8, 1, 2)(torch.zeros(2, 1, 6, 6)), V_, "images"),
    row("crate_mnist.parameter_count", lambda: E("crate_mnist.parameter_count")(None), T, "model"),
    row("crate_mnist.train_classifier", lambda: E("crate_mnist.train_classifier")(nn.Flatten(), torch.zeros(4, 2), y()[:4], 1, lr=0.0), V_, "lr"),
    row("crate_mnist.train_classifier", lambda: E("crate_mnist.train_classifier")(None, torch.zeros(4, 2), y()[:4], 1), T, "model"),
    row("crate_mnist.accuracy_of", lambda: E("crate_mnist.accuracy_of")(nn.Flatten(), torch.zeros(4, 2), y()[:4], batch_size=0), V_, "batch_size"),
    row("crate_mnist.layer_measures", lambda: E("crate_mnist.layer_measures")(nn.Flatten(), torch.zeros(2, 1, 8, 8)), T, "model"),
    row("crate_mnist.layer_measures",
        lambda: E("crate_mnist.layer_measures")(E("crate.CRATE")(8, 4, 1, 3, 8, 1, 2), torch.zeros(2, 1, 8, 8), eps_sq=0.0), V_, "eps_sq"),
    row("crate_mnist.class_token_attention", lambda: E("crate_mnist.class_token_attention")(None, torch.zeros(2, 1, 8, 8)), T, "model"),
    row("crate_mnist.CRATEMNISTConfig", lambda: E("crate_mnist.CRATEMNISTConfig")(patch_size=5), V_, "patch_size"),
    row("crate_mnist.CRATEMNISTConfig", lambda: E("crate_mnist.CRATEMNISTConfig")(dim=10, heads=4), V_, "heads"),
    row("crate_mnist.CRATEMNISTConfig", lambda: E("crate_mnist.CRATEMNISTConfig")(epochs=1.5), T, "epochs"),
    row("crate_mnist.crate_mnist_data", lambda: E("crate_mnist.crate_mnist_data")({}), T, "config"),
    row("crate_mnist.run_crate_mnist", lambda: E("crate_mnist.run_crate_mnist")(E("experiments.Table18Config")()), T, "config"),
    row("reproduce.git_revision", lambda: E("reproduce.git_revision")(5), T, "path"),
    row("reproduce.device_description", lambda: E("reproduce.device_description")("gpu0"), V_, "device"),
    row("reproduce.run_metadata", lambda: E("reproduce.run_metadata")(3.5), T, "device"),
    row("reproduce.parse_override", lambda: E("reproduce.parse_override")(5, E("experiments.Table18Config")), T, "text"),
    row("reproduce.parse_override", lambda: E("reproduce.parse_override")("a=1", dict), T, "config_class"),
    row("reproduce.parse_override", lambda: E("reproduce.parse_override")("center=maybe", E("experiments.Table18Config")), V_, "center"),
    row("reproduce.result_path", lambda: E("reproduce.result_path")("r", "table18", "huge", {}), V_, "scale"),
    row("reproduce.result_path", lambda: E("reproduce.result_path")("r", "table18", "book", {}, tag="a/b"), V_, "tag"),
    row("reproduce.check_device", lambda: E("reproduce.check_device")(3.5), T, "device"),
    row("reproduce.check_device", lambda: E("reproduce.check_device")("gpu0"), V_, "device"),
    row("reproduce.check_data", lambda: E("reproduce.check_data")(None), T, "config"),
    row("reproduce.check_out", lambda: E("reproduce.check_out")(5), T, "path"),
    row("reproduce.plan_run", lambda: E("reproduce.plan_run")({}), T, "args"),
    row("reproduce.main", lambda: E("reproduce.main")("table18"), T, "argv"),
    row("reproduce.portable_command", lambda: E("reproduce.portable_command")(5, "results/table18.json"), T, "command"),
]


@pytest.fixture(autouse=True)
def _close_figures():
    "No figure outlives its row."
    yield
    plt.close("all")


@pytest.mark.parametrize("name, call, exc, says", ROWS)
def test_bad_input(name, call, exc, says):
    "The call raises exactly the rule's exception type, and its message names the argument."
    with pytest.raises((TypeError, ValueError)) as info:
        call()
    other = ValueError if exc is TypeError else TypeError
    assert isinstance(info.value, exc) and not isinstance(info.value, other), \
        f"{name}: expected {exc.__name__}, got {type(info.value).__name__}: {info.value}"
    assert says in str(info.value), f"{name}: the message does not name {says!r}: {info.value}"


# ---------------------------------------------------------------- every public name is in the table

# Public names that need no row, and why:
EXEMPT = {
    "fetch.DataUnavailable",          # an exception class (raised, not called with user input)
    "reproduce.ArgumentParser",       # argparse: a usage error exits with status 2 (tested in test_experiments)
    "gaussians.GaussianRun",          # a result record filled by run_gaussian_mixture, not user input
    "experiments.Experiment",         # a registry record made by register_experiment (which checks its inputs)
}


def _needs_row(module, name: str) -> bool:
    "Functions and classes need a row; constants, NamedTuples (records), literal_* check helpers and functions without parameters do not."
    obj = getattr(module, name)
    if name.startswith("literal_"):                      # the paper's formulas verbatim, for checks: no validation by design
        return False
    if inspect.isclass(obj):
        return not (issubclass(obj, tuple) and hasattr(obj, "_fields"))   # NamedTuples are records
    if callable(obj):
        try:
            return len(inspect.signature(obj).parameters) > 0              # nothing to pass, nothing to get wrong
        except (TypeError, ValueError):
            return True
    return False                                         # constants


@pytest.mark.parametrize("module_name", MODULES)
def test_every_public_name_has_a_row(module_name):
    "Every function and class in the module's __all__ has at least one bad-input row (or an explained exemption)."
    module = mod(module_name)
    covered = {p.values[0] for p in ROWS}
    missing = [f"{module_name}.{n}" for n in module.__all__
               if _needs_row(module, n) and f"{module_name}.{n}" not in covered and f"{module_name}.{n}" not in EXEMPT]
    assert not missing, f"public names without a bad-input row in tests/test_bad_input.py: {missing}"


def test_the_table_names_only_public_names():
    "A row's name is in its module's __all__ (a renamed or removed function is noticed)."
    stale = []
    for p in ROWS:
        module_name, attr = p.values[0].split(".")
        try:
            module = importlib.import_module(f"redunet_book.{module_name}")
        except ModuleNotFoundError:
            continue
        if attr not in module.__all__:
            stale.append(p.values[0])
    assert not stale, f"rows for names that are not public (any more): {sorted(set(stale))}"


def test_checkers_return_the_checked_value():
    "The shared checkers return what they accept, converted where the docstring says so."
    core = mod("core")
    labels = torch.tensor([0, 2, 1])
    assert core.check_tensor(labels, "labels") is labels and core.check_labels(labels, num_classes=3) is labels
    assert core.check_bool(np.bool_(True), "flag") is True and core.check_bool(False, "flag") is False
    assert core.check_dtype("float32") is torch.float32 and core.check_dtype(torch.float64) is torch.float64
    assert core.check_nonnegative(0, "noise") == 0.0 and core.check_real(np.float32(-2.5), "x") == -2.5
    assert core.check_choice("relu", "nonlinearity", ("relu", "none")) == "relu"
    assert isinstance(core.check_positive(torch.tensor(2), "eta"), float)
