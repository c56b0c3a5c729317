# Owns: the optional Route 53 records: an alias A record for the MX host name -> the NLB, and
# the MX record of the mail domain -> that host. Created only when route53_zone_id is set.
locals {
  manage_dns = var.route53_zone_id != null
}

resource "aws_route53_record" "mx_host" {
  count   = local.manage_dns ? 1 : 0
  zone_id = var.route53_zone_id
  name    = var.mx_hostname
  type    = "A"

  alias {
    name                   = aws_lb.smtp.dns_name
    zone_id                = aws_lb.smtp.zone_id
    evaluate_target_health = true
  }

  lifecycle {
    precondition {
      condition     = var.mx_hostname != null && var.mx_domain != null
      error_message = "route53_zone_id needs mx_hostname and mx_domain too."
    }
  }
}

resource "aws_route53_record" "mx" {
  count   = local.manage_dns ? 1 : 0
  zone_id = var.route53_zone_id
  name    = var.mx_domain
  type    = "MX"
  ttl     = 300
  records = ["10 ${var.mx_hostname}"]
}
