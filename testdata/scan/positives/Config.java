class Config {
  static { System.setProperty("api.token", "QIixNMzwo3ApFcXlV4cxgw"); }
}
