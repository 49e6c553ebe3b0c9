# The client's pure logic: input lists, URL file names, output directories.
ckptd_unit_test(test_cli_input ckc_input)
