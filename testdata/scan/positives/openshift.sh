oc login --token=sha256~g7SDHydPw1YnkFgKirqaBjwa1RC7uMv2Mrd5EMdumjQ --server=https://api.cluster:6443
