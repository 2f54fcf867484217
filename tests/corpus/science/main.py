"""Fit and score three models on one synthetic data set: numpy, scipy, scikit-learn and
LightGBM (whose wheel needs OpenMP's libgomp, which the base lacks)."""

import lightgbm
import numpy as np
import scipy
import sklearn
from scipy import linalg, optimize
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

rng = np.random.default_rng(0)
a = rng.normal(size=(50, 50)) + 50 * np.eye(50)
b = rng.normal(size=50)
x = linalg.solve(a, b)
print(f"scipy {scipy.__version__} solve residual {np.abs(a @ x - b).max():.1e}")
minimum = optimize.minimize_scalar(lambda t: (t - 3.5) ** 2)
print(f"scipy minimum at {minimum.x:.3f}")

features, labels = make_classification(n_samples=2000, n_features=20, random_state=0)
train_x, test_x, train_y, test_y = train_test_split(features, labels, random_state=0)
models = {
    "logistic": LogisticRegression(max_iter=1000),
    "forest": RandomForestClassifier(n_estimators=50, random_state=0),
    "lightgbm": lightgbm.LGBMClassifier(n_estimators=50, verbose=-1),
}
for name, model in models.items():
    model.fit(train_x, train_y)
    print(f"{name} accuracy {model.score(test_x, test_y):.3f}")
print(f"numpy {np.__version__} sklearn {sklearn.__version__} lightgbm {lightgbm.__version__}")
