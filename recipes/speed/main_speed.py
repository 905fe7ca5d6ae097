from recipes.main import alias; alias(__name__, "speed")  # noqa: E702, I001  # fmt: skip
