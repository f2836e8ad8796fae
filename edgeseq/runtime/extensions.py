"""Image file extensions Pillow reads out of the box (standard library only, so the CLI can use it).

A folder of images — training data, or ``edgeseq predict DIR`` — means the files with these extensions.
"""

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
