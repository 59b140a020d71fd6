// glibc_sincosf.c prints sinf and cosf of every 97th float32 from 0 to 5000 as glibc computes them
// (on x86-64 with FMA, glibc picks __sinf_fma and __cosf_fma). glibc_sincosf.txt holds 400 of its lines
// where float32(math.Sin) or float32(math.Cos) differ and 398 where they agree:
//
//	gcc -O2 -o sc glibc_sincosf.c -lm && ./sc > all.txt   (bits of x, sinf(x), cosf(x), hex)
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <stdint.h>
int main(){
  // every 97th float32 from 0 to 5000, and their negatives for a few
  uint32_t lo=0, hi; float h=5000.0f; memcpy(&hi,&h,4);
  for(uint32_t b=lo;b<=hi;b+=97){
    float x; memcpy(&x,&b,4);
    float s=sinf(x), c=cosf(x); uint32_t sb,cb; memcpy(&sb,&s,4); memcpy(&cb,&c,4);
    printf("%08x %08x %08x\n",b,sb,cb);
  }
}
