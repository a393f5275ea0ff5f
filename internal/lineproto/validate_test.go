package lineproto

import (
	"strings"
	"testing"
)

// The messages below were checked against influxd 1.6.7 (see
// TestInfluxdValidateCorpus, which repeats the check on every run).
func TestValidateLine(t *testing.T) {
	cases := []struct{ line, reason string }{
		{`m f=1`, ""},
		{`m,t=a,u=b f=1i,g="x y",h=t 123`, ""},
		{"m s=\"a\nb\"", ""},
		{`# comment`, ""},
		{"  \t", ""},
		{"", ""},
		{"  m f=1 5   ", ""},
		{"m f=1 5\n", ""}, // a trailing '\n' is stripped, as InfluxDB does
		{`m f=1u`, ""},    // unsigned: accepted (see the doc)
		{`m`, "missing fields"},
		{`m `, "invalid field format"},
		{`,m f=1`, "missing measurement"},
		{`m,t f=1`, "missing tag value"},
		{`m,=a f=1`, "missing tag key"},
		{`m,t=a=b f=1`, "invalid tag format"},
		{`m,b=1,a=2,b=3 f=1`, "duplicate tags"},
		{`m =1`, "missing field key"},
		{`m f=1,=2`, "missing field key"},
		{`m f=`, "missing field value"},
		{`m f=1,g`, "invalid field format"},
		{`m f=1.1.1`, "invalid number"},
		{`m f=-1u`, "invalid number"},
		{`m f=99999999999999999999i`, `unable to parse integer 99999999999999999999: strconv.ParseInt: parsing "99999999999999999999": value out of range`},
		{`m f=99999999999999999999u`, `unable to parse unsigned 99999999999999999999: strconv.ParseUint: parsing "99999999999999999999": value out of range`},
		{`m f=1.5e400`, "invalid float"},
		{`m f=tru`, "invalid boolean"},
		{`m f="abc`, "unbalanced quotes"},
		{`m f=1 12x`, "bad timestamp"},
		{`m f=1 1 2`, "point is invalid"},
		{`m f=1 -`, `strconv.ParseInt: parsing "-": invalid syntax`},
		{`m f=1 9223372036854775807`, "time outside range -9223372036854775806 - 9223372036854775806"},
		{"m,t=" + strings.Repeat("x", MaxKeyLength) + " f=1", "max key length exceeded: 65539 > 65535"},
		{"m " + strings.Repeat("x", MaxKeyLength) + "=1", "max key length exceeded: 65540 > 65535"},
	}
	for _, tc := range cases {
		err := ValidateLine([]byte(tc.line))
		if tc.reason == "" {
			if err != nil {
				t.Errorf("ValidateLine(%.40q) = %v, want nil", tc.line, err)
			}
			continue
		}
		want := "unable to parse '" + strings.TrimLeft(tc.line, " \t") + "': " + tc.reason
		if err == nil || err.Error() != want {
			t.Errorf("ValidateLine(%.40q) = %.200v, want %.200s", tc.line, err, want)
		}
	}
}

func TestValidateLinePrecision(t *testing.T) {
	// 3000000 hours is beyond 2262; 2000000 is not.
	if err := ValidateLinePrecision([]byte("m f=1 2000000"), Hour); err != nil {
		t.Errorf("in range: %v", err)
	}
	if err := ValidateLinePrecision([]byte("m f=1 3000000"), Hour); err == nil || !strings.HasSuffix(err.Error(), ErrTimeOutOfRange.Error()) {
		t.Errorf("out of range: %v", err)
	}
	if err := ValidateLinePrecision([]byte("m f=1 3000000"), Second); err != nil {
		t.Errorf("seconds: %v", err)
	}
}

func TestValidateLineNoAllocs(t *testing.T) {
	line := []byte(`cpu,host=server01,region=us-west,a=1,b=2 usage_idle=98.2,count=5i,ok=true,msg="a b" 1465839830100400200`)
	if n := testing.AllocsPerRun(100, func() { _ = ValidateLine(line) }); n != 0 {
		t.Errorf("ValidateLine allocates %.1f times for a valid line", n)
	}
	dup := []byte("m,t1=a,t2=b,t3=c,t4=d,t5=e,t6=f,t7=g,t8=h,t9=i,t10=j,t11=k,t12=l,t13=m,t14=n,t15=o,t16=p,t17=q,t18=r,t19=s,t20=t,t21=u,t22=v,t23=w,t24=x,t25=y,t26=z,t27=a,t28=b,t29=c,t30=d,t31=e,t32=f,t33=g,t34=h,t1=z f=1")
	if err := ValidateLine(dup); err == nil || !strings.HasSuffix(err.Error(), "duplicate tags") {
		t.Errorf("duplicate beyond 32 tags: %v", err)
	}
}
