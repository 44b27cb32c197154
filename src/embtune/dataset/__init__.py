"""The dataset/ config group: data types, file readers, sources, splits, integrity checks."""
