"""Instructor-only: the seed of the pixel permutation applied to training and test images in the training checks.

A network trained on the permuted images does exactly as well as on the originals (Flatten + Dense layers do not
care about pixel order), but weights trained elsewhere and pasted into a submission fail. This file is not part of
the student bundle; without it the checks use the identity permutation.
"""

PIXEL_PERMUTATION_SEED = 0x5EC2E7_D16175
