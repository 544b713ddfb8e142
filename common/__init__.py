"""What every stage shares: config, the warehouse and its engines, contracts, metadata."""

import warnings

# pyspark warns on import that it does not fully support pandas 3, and great-expectations imports
# pyspark's Connect client whenever it is installed, so every run would print it on the DuckDB
# engine too; the Spark engine's tests prove the frames passed between pandas and Spark.
warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
