"""The ``suanli`` command. Each command group lives in its own module; heavy imports
(numpy, the catalog, the model) happen inside the commands so ``suanli --help`` is instant."""
