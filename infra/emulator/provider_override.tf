# Emulator only (scripts/tf-emulator.sh copies this next to the real configuration): talk to the
# moto server given by AWS_ENDPOINT_URL with test credentials. The production files are unchanged.
provider "aws" {
  s3_use_path_style           = true
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
}
