"""Training throughput of TripletEmbedder.fit against plain ``model.fit`` (same network, batches).

Usage::

    python benchmarks/triplet_overhead.py --data /work/shared/data/market1501/cab420_subset

Both runs train the same freshly built network (same seed, same compile settings) on the
same P x K batches for the same number of epochs: the estimator through its PyDataset
sampler, the plain run on those batches materialised in advance as arrays
(``model.fit(X, y, batch_size=P*K, shuffle=False)``). The first epoch (graph tracing) is
reported separately; "steady" is images/s over the remaining epochs. The estimator's
overhead is ``plain_steady / estimator_steady - 1`` (target <= 10 %).
"""

import argparse
import time

import numpy as np


def measure_overhead(X, y, params, epochs=3):
    """Return a dict of images/s (steady and total) for the estimator and plain model.fit."""
    from skreid._keras import PKSampler, import_keras, keras_seeded
    from skreid.reid import TripletEmbedder

    keras = import_keras()
    params = {**params, "epochs": epochs, "validation_fraction": 0.0, "verbose": 0,
              "random_state": 0}
    est = TripletEmbedder(**params)
    start = time.perf_counter()
    est.fit(X, y)
    est_total = time.perf_counter() - start
    times = est.history_["epoch_time"]
    P = est.batch_size // est.images_per_identity
    codes = np.searchsorted(est.identities_, y)
    sampler = PKSampler(codes, P, est.images_per_identity, np.random.RandomState(0))
    n_img = len(sampler) * est.batch_size
    # the same batches, materialised up front: what a user of plain model.fit would feed
    idx = np.concatenate([np.concatenate(sampler.epoch()) for _ in range(epochs)])
    Xb, yb = X[idx], codes[idx]
    with keras_seeded(0):
        start = time.perf_counter()
        # the estimator's own builder: the very network its fit trained, freshly initialised
        model = est._build_model(Xb, yb)
        est.model_ = model
        est._compile(len(sampler), epochs)
        targets = {"triplet": yb, "logits": yb} if "logits" in model.output_names else yb
        plain_times = []

        class Timer(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                self.t0 = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                plain_times.append(time.perf_counter() - self.t0)

        # epochs of the plain run are slices of the concatenated batches
        steps = len(sampler)
        model.fit(Xb, targets, batch_size=est.batch_size, shuffle=False, epochs=epochs,
                  steps_per_epoch=steps, verbose=0, callbacks=[Timer()])
        plain_total = time.perf_counter() - start
    est_steady = n_img * (epochs - 1) / sum(times[1:])
    plain_steady = n_img * (epochs - 1) / sum(plain_times[1:])
    return dict(
        images_per_epoch=n_img, epochs=epochs,
        estimator_steady_ips=est_steady, plain_steady_ips=plain_steady,
        estimator_total_ips=n_img * epochs / est_total,
        plain_total_ips=n_img * epochs / plain_total,
        estimator_first_epoch_s=times[0], plain_first_epoch_s=plain_times[0],
        overhead_steady=plain_steady / est_steady - 1.0,
        overhead_total=(n_img * epochs / plain_total) / (n_img * epochs / est_total) - 1.0,
    )


def format_overhead(res):
    return (
        f"estimator {res['estimator_steady_ips']:.0f} img/s vs plain model.fit "
        f"{res['plain_steady_ips']:.0f} img/s (steady epochs): overhead "
        f"{100 * res['overhead_steady']:+.1f} %; whole fit incl. build/trace/gallery "
        f"{res['estimator_total_ips']:.0f} vs {res['plain_total_ips']:.0f} img/s "
        f"({100 * res['overhead_total']:+.1f} %)"
    )


def main(argv=None):
    from skreid.datasets import load_market1501

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--weights", default=None, help="MobileNetV3 .weights.h5 (default: shared)")
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args(argv)
    data = load_market1501(args.data)
    from _common import best_params

    res = measure_overhead(data.train.images, data.train.person_ids,
                           best_params(args.data, args.weights), epochs=args.epochs)
    print(format_overhead(res))


if __name__ == "__main__":
    main()
