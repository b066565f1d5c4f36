terraform {
  required_version = ">= 1.5.0"

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
