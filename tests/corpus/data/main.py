"""A parquet round trip: pandas writes (through pyarrow), polars and pyarrow read back."""

import io

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

frame = pd.DataFrame(
    {
        "city": ["Oslo", "Lima", "Oslo", "Pune", "Lima", "Oslo"],
        "temperature": [3.5, 19.0, 4.5, 31.0, 21.0, 2.0],
        "when": pd.date_range("2024-01-01", periods=6, freq="D"),
    }
)
buffer = io.BytesIO()
frame.to_parquet(buffer, engine="pyarrow", compression="zstd")
data = buffer.getvalue()
print(f"parquet {len(data)} bytes, magic {data[:4].decode()}")

table = pq.read_table(io.BytesIO(data))
print(f"pyarrow {pa.__version__} rows {table.num_rows} max {pc.max(table['temperature']).as_py()}")

means = (
    pl.read_parquet(io.BytesIO(data))
    .group_by("city")
    .agg(pl.col("temperature").mean().alias("mean"))
    .sort("city")
)
for city, mean in means.iter_rows():
    print(f"polars {city} {mean:.2f}")
back = pd.read_parquet(io.BytesIO(data))
print(f"pandas {pd.__version__} equal {back.equals(frame)}")
