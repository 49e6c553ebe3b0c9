# Azure Blob: a checkpoint kept in Azurite (the Azure Storage emulator, npm
# package in tests/azure, under node), which checks Shared Key signatures,
# downloaded through the real daemon. engine/azure.c's unit test, test_azure,
# is in engine.cmake.
ckptd_e2e_test(azure_download)
ckptd_e2e_test(objects_azure)
