"""Instructor-only kit data.

The training checks' secret (pixel order, input mixing) used to be a constant seed here; it is now drawn fresh for
every grading run in the trusted process (:func:`grader.checking.checklib.run_secret`) and written nowhere.
"""
