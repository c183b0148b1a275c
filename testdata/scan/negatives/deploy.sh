#!/bin/sh
curl -sS -H "Authorization: Bearer $DEPLOY_TOKEN" https://api.internal/v1/deploy
curl -u "$NEXUS_USER:$NEXUS_PASSWORD" https://nexus.internal/repository/
