Stripe.api_key = "sk_live_Idjh5tYTXMRsSQTEM4vbxPEEUlVQxH8G"
