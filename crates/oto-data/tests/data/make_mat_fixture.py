"""Writes svhn_scipy.mat, an SVHN-shaped MAT v5 file made by scipy (an independent writer), for
the test `mat_fixture_written_by_scipy`. Needs numpy + scipy (not in the project venv; any venv):
    python make_mat_fixture.py
Also svhn_scipy_raw.mat (uncompressed, y float64).
X: uint8 (32, 32, 3, 3) with X[r, c, ch, i] = (r + 2c + 5ch + 7i) % 256; y: uint8 [[10], [1], [5]].
"""
import numpy as np
import scipy.io

r, c, ch, i = np.meshgrid(np.arange(32), np.arange(32), np.arange(3), np.arange(3), indexing="ij")
X = ((r + 2 * c + 5 * ch + 7 * i) % 256).astype(np.uint8)
y = np.array([[10], [1], [5]], dtype=np.uint8)
scipy.io.savemat("svhn_scipy.mat", {"X": X, "y": y}, do_compression=True, format="5")
# Same content, uncompressed, y as double (as in the official SVHN files).
scipy.io.savemat("svhn_scipy_raw.mat", {"X": X, "y": y.astype(np.float64)}, do_compression=False, format="5")
