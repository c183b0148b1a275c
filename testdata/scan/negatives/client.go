package client

type ImageRegistryCredential = original.ImageRegistryCredential

func New() *Client {
	tokenSource := oauth2.ReuseTokenSource(nil, tokenFile)
	return &Client{credentialsId: "deploy-creds", secret: &logical.Secret{}}
}
