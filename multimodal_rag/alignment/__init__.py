"""Catalog alignment (``mmrag align``): projection heads trained on a catalog's own text-photo pairs put texts and
photos in one space (``train``, with its ``options``); ``aligned:DIR`` loads them (``embedders.aligned``).

It sits above evaluation: ``--exclude-task`` holds out a task's relevant products."""
