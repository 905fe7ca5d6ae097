from recipes.main import alias; alias(__name__, "probe")  # noqa: E702, I001  # fmt: skip
