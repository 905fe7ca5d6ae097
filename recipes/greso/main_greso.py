from recipes.main import alias; alias(__name__, "greso")  # noqa: E702, I001  # fmt: skip
