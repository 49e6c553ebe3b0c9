# The client's pure logic: input lists, URL file names, output directories.
ckptd_unit_test(test_cli_input ckc_input)
# det's output forms: tables, JSON, report times, resource sizes.
ckptd_unit_test(test_cli_det ckc_det)
