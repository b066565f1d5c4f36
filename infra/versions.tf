terraform {
  required_version = ">= 1.9.0" # validations that refer to other variables

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # Pinned to the 5.x line this repository is tested with (5.100.0 is locked in
      # .terraform.lock.hcl); no other provider is used, so artifacts are packaged outside
      # Terraform (scripts/package.sh).
      version = "~> 5.100"
    }
  }
}
