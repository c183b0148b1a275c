const hook = "https://discord.com/api/webhooks/205428348391575327/zIv6MqCW5Q8Vid64foO7OvqUYNYrICuuZFaRAdrnrt8kSifjFNalcRFslf6OZoA_ePIz";
