"""The adversarial corpus in the Landlock mode (the sandbox used where bubblewrap cannot start): the tests of
test_adversarial.py that read the graded batch, run on the corpus graded with ``NNKIT_NO_BWRAP=1``."""

from test_adversarial import (  # noqa: F401 (collected here, with this file's batch)
    batch_in_mode,
    test_attack_scores_what_it_should,
    test_batch_completes,
    test_control_is_graded_as_if_alone,
    test_hidden_check_inputs_never_reach_the_student,
    test_kit_and_repository_unchanged,
    test_no_secret_reaches_any_output,
    test_no_stray_files,
    test_nothing_outlives_the_batch,
    test_nothing_reaches_the_network,
    test_pasted_q4_weights_would_pass_without_the_permutation,
    test_reports_stay_well_formed,
)

batch = batch_in_mode("landlock")
