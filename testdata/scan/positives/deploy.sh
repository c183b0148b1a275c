#!/bin/sh
curl -sS -H "Authorization: Bearer FCGSdttmStaP53xliKvPTVqB6aFOqkJS-QId6fVP" https://api.internal/v1/deploy
