from recipes.main import alias; alias(__name__, "pcl")  # noqa: E702, I001  # fmt: skip
